//! One handling per job id at a time in this process. A duplicate delivered while its
//! first copy is still running waits for it, then meets the done-guard and is skipped,
//! instead of running the node a second time alongside the first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

#[derive(Default)]
pub struct JobsInFlight {
    running: Mutex<HashMap<String, Arc<Notify>>>,
}

/// Held while a job id is being handled; releasing it wakes any waiting duplicate.
pub struct InFlightGuard<'a> {
    jobs: &'a JobsInFlight,
    job_id: String,
    done: Arc<Notify>,
}

impl JobsInFlight {
    /// Waits until no other handling of `job_id` runs here, then claims it.
    pub async fn claim(&self, job_id: &str) -> InFlightGuard<'_> {
        loop {
            let first = {
                let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
                match running.get(job_id) {
                    Some(done) => Arc::clone(done),
                    None => {
                        let done = Arc::new(Notify::new());
                        running.insert(job_id.to_string(), Arc::clone(&done));
                        return InFlightGuard {
                            jobs: self,
                            job_id: job_id.to_string(),
                            done,
                        };
                    }
                }
            };
            let finished = first.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            // The first copy may have finished before we started listening.
            if self.is_running(job_id, &first) {
                finished.await;
            }
        }
    }

    fn is_running(&self, job_id: &str, done: &Arc<Notify>) -> bool {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.get(job_id).is_some_and(|d| Arc::ptr_eq(d, done))
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        let mut running = self.jobs.running.lock().unwrap_or_else(|p| p.into_inner());
        if running
            .get(&self.job_id)
            .is_some_and(|d| Arc::ptr_eq(d, &self.done))
        {
            running.remove(&self.job_id);
        }
        drop(running);
        self.done.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn a_duplicate_waits_for_the_first_copy() {
        let jobs = Arc::new(JobsInFlight::default());
        let overlap = Arc::new(AtomicUsize::new(0));
        let max_overlap = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (jobs, overlap, max_overlap) = (jobs.clone(), overlap.clone(), max_overlap.clone());
                tokio::spawn(async move {
                    let _guard = jobs.claim("job-1").await;
                    let now = overlap.fetch_add(1, Ordering::SeqCst) + 1;
                    max_overlap.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    overlap.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
        assert_eq!(max_overlap.load(Ordering::SeqCst), 1);
        assert!(jobs.running.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn different_jobs_run_together() {
        let jobs = JobsInFlight::default();
        let _a = jobs.claim("a").await;
        let b = tokio::time::timeout(Duration::from_millis(100), jobs.claim("b")).await;
        assert!(b.is_ok());
    }
}
