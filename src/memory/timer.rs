//! Timers on tokio: each scheduled job is a task sleeping until its instant
//! (no thread is blocked), then enqueued on the transport.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::engine::job::Job;
use crate::engine::traits::{BackendResult, BoxFuture, Clock, JobTransport, Timer};

pub struct TokioTimer {
    transport: Arc<dyn JobTransport>,
    clock: Arc<dyn Clock>,
    pending: Arc<AtomicUsize>,
}

impl TokioTimer {
    pub fn new(transport: Arc<dyn JobTransport>, clock: Arc<dyn Clock>) -> Self {
        Self {
            transport,
            clock,
            pending: Arc::default(),
        }
    }

    /// Timers scheduled and not yet fired.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }
}

impl Timer for TokioTimer {
    fn schedule<'a>(&'a self, at_ms: u64, job: Job) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            let delay = at_ms.saturating_sub(self.clock.now_ms());
            let transport = self.transport.clone();
            let pending = self.pending.clone();
            pending.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                // Enqueue before counting down, so "idle" is never seen in between.
                let _ = transport.enqueue(vec![job]).await;
                pending.fetch_sub(1, Ordering::SeqCst);
            });
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryJobQueue, SystemClock};

    #[tokio::test]
    async fn delivers_after_the_delay() {
        let queue = Arc::new(MemoryJobQueue::new());
        let clock = Arc::new(SystemClock);
        let timer = TokioTimer::new(queue.clone(), clock.clone());
        let start = std::time::Instant::now();
        timer
            .schedule(clock.now_ms() + 30, Job::new("r", "bp", "a"))
            .await
            .unwrap();
        assert_eq!(timer.pending(), 1);
        let got = queue.receive(1).await.unwrap();
        assert_eq!(got[0].job.node_id, "a");
        assert!(start.elapsed() >= Duration::from_millis(25));
    }
}
