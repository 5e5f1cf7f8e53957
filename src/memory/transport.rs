//! A FIFO job queue. Delivered jobs stay "unacknowledged" until the worker
//! acknowledges them, so `outstanding()` tells whether anything is queued or
//! being handled.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::engine::job::Job;
use crate::engine::traits::{
    BackendError, BackendResult, BoxFuture, Delivery, DeliveryReceipt, JobDisposition, JobTransport,
};

#[derive(Default)]
struct QueueState {
    queue: VecDeque<Job>,
    unacknowledged: HashMap<u64, Job>,
    next_receipt: u64,
    closed: bool,
}

#[derive(Default)]
pub struct MemoryJobQueue {
    state: Mutex<QueueState>,
    ready: Notify,
}

impl MemoryJobQueue {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self, operation: &'static str) -> BackendResult<std::sync::MutexGuard<'_, QueueState>> {
        self.state
            .lock()
            .map_err(|_| BackendError::new(operation, "queue lock poisoned"))
    }

    /// Jobs queued plus jobs delivered and not yet acknowledged.
    pub fn outstanding(&self) -> usize {
        self.state
            .lock()
            .map_or(0, |s| s.queue.len() + s.unacknowledged.len())
    }

    /// Ends every pending and future `receive` with an empty batch.
    pub fn close(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.closed = true;
        }
        self.ready.notify_waiters();
    }
}

impl JobTransport for MemoryJobQueue {
    fn enqueue<'a>(&'a self, jobs: Vec<Job>) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            self.lock("enqueue")?.queue.extend(jobs);
            self.ready.notify_waiters();
            Ok(())
        })
    }

    fn receive<'a>(&'a self, max: usize) -> BoxFuture<'a, BackendResult<Vec<Delivery>>> {
        Box::pin(async move {
            loop {
                let notified = self.ready.notified();
                {
                    let mut state = self.lock("receive")?;
                    if !state.queue.is_empty() {
                        let take = max.max(1).min(state.queue.len());
                        let mut batch = Vec::with_capacity(take);
                        for _ in 0..take {
                            let job = state.queue.pop_front().expect("checked non-empty");
                            state.next_receipt += 1;
                            let receipt = state.next_receipt;
                            state.unacknowledged.insert(receipt, job.clone());
                            batch.push(Delivery {
                                job,
                                receipt: DeliveryReceipt(receipt),
                            });
                        }
                        return Ok(batch);
                    }
                    if state.closed {
                        return Ok(Vec::new());
                    }
                }
                notified.await;
            }
        })
    }

    fn acknowledge<'a>(
        &'a self,
        receipt: DeliveryReceipt,
        disposition: JobDisposition,
    ) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            let mut state = self.lock("acknowledge")?;
            let job = state.unacknowledged.remove(&receipt.0);
            if let (JobDisposition::Redeliver { .. }, Some(job)) = (disposition, job) {
                state.queue.push_back(job);
                drop(state);
                self.ready.notify_waiters();
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fifo_batches_and_redelivery() {
        let q = MemoryJobQueue::new();
        let jobs: Vec<Job> = ["a", "b", "c"].iter().map(|n| Job::new("r", "bp", n)).collect();
        q.enqueue(jobs).await.unwrap();
        let first = q.receive(2).await.unwrap();
        assert_eq!(
            first.iter().map(|d| d.job.node_id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(q.outstanding(), 3);
        q.acknowledge(first[0].receipt, JobDisposition::Done)
            .await
            .unwrap();
        q.acknowledge(first[1].receipt, JobDisposition::Redeliver { reason: "x".into() })
            .await
            .unwrap();
        let next = q.receive(5).await.unwrap();
        assert_eq!(
            next.iter().map(|d| d.job.node_id.as_str()).collect::<Vec<_>>(),
            ["c", "b"]
        );
    }

    #[tokio::test]
    async fn receive_waits_for_enqueue_and_close_ends_it() {
        let q = std::sync::Arc::new(MemoryJobQueue::new());
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.receive(1).await.unwrap().len() }
        });
        tokio::task::yield_now().await;
        q.enqueue(vec![Job::new("r", "bp", "a")]).await.unwrap();
        assert_eq!(waiter.await.unwrap(), 1);
        q.close();
        assert!(q.receive(1).await.unwrap().is_empty());
    }
}
