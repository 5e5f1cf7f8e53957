//! An in-process timer for the Kafka transport: each scheduled job is a tokio task
//! that sleeps until its instant, then publishes the job (retrying with backoff while
//! Kafka is away). Not durable: a timer pending in a process that dies is lost. The
//! durable Kafka-backed timer service replaces this type behind the same `Timer`
//! trait.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::JoinSet;

use crate::engine::job::Job;
use crate::engine::traits::{BackendResult, BoxFuture, JobTransport, Timer};

const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(10);

pub struct KafkaTimer {
    transport: Arc<dyn JobTransport>,
    pending: Mutex<JoinSet<()>>,
}

impl KafkaTimer {
    pub fn new(transport: Arc<dyn JobTransport>) -> Self {
        Self {
            transport,
            pending: Mutex::new(JoinSet::new()),
        }
    }

    /// Timers scheduled and not yet fired.
    pub fn pending(&self) -> usize {
        let mut set = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        while set.try_join_next().is_some() {}
        set.len()
    }

    /// Drops every pending timer (call on shutdown, before closing the transport).
    pub fn close(&self) {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).abort_all();
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Timer for KafkaTimer {
    fn schedule<'a>(&'a self, at_ms: u64, job: Job) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            let delay = Duration::from_millis(at_ms.saturating_sub(now_ms()));
            let transport = self.transport.clone();
            let mut set = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            while set.try_join_next().is_some() {}
            set.spawn(async move {
                tokio::time::sleep(delay).await;
                let mut backoff = RETRY_FIRST;
                while transport.enqueue(vec![job.clone()]).await.is_err() {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(RETRY_MAX);
                }
            });
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryJobQueue;

    #[tokio::test]
    async fn publishes_at_the_due_time_and_close_cancels() {
        let queue = Arc::new(MemoryJobQueue::new());
        let timer = KafkaTimer::new(queue.clone());
        let started = std::time::Instant::now();
        timer
            .schedule(now_ms() + 40, Job::new("r", "bp", "a"))
            .await
            .unwrap();
        timer
            .schedule(now_ms() + 60_000, Job::new("r", "bp", "late"))
            .await
            .unwrap();
        assert_eq!(timer.pending(), 2);
        let got = queue.receive(1).await.unwrap();
        assert_eq!(got[0].job.node_id, "a");
        assert!(started.elapsed() >= Duration::from_millis(35));
        timer.close();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(timer.pending(), 0);
    }
}
