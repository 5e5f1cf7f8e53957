//! Which join arrivals' context writes this process has stored. A join predecessor
//! claims its result with its done marker and arrives at the join in the same step,
//! then stores its writes. So when a later arrival fires the join, an earlier one may
//! not have stored its writes yet (it is still writing, or it died in between), and the
//! join must not run before they are stored. The firing job asks here for each of the
//! join's arrivals: stored by this process (go on), being stored (wait for it), or not
//! known (store them again from the arrival's done marker: `lifecycle::finish`).
//!
//! Facts here never go stale (a stored write stays stored), so nothing depends on the
//! partition assignment. Memory is bounded: past `capacity` entries the oldest go, and
//! a join that needs one of them stores those writes again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::watch;

/// An arrival's writes, as this process knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Stored (or it made none).
    Stored,
    /// Not known here: handled elsewhere, failed, or forgotten.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Storing,
    Stored,
    Failed,
}

type Key = (String, String);

#[derive(Default)]
struct Entries {
    by_job: HashMap<Key, watch::Sender<State>>,
    order: VecDeque<Key>,
}

pub struct ArrivalWrites {
    entries: Mutex<Entries>,
    capacity: usize,
}

/// Default bound: a few arrivals per run waiting at a join, for thousands of runs.
pub const DEFAULT_CAPACITY: usize = 65_536;

impl Default for ArrivalWrites {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl ArrivalWrites {
    pub fn new(capacity: usize) -> Self {
        ArrivalWrites {
            entries: Mutex::new(Entries::default()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Job `job_id` of `run_id` is about to claim its arrivals and then store its writes.
    /// Until the guard says `stored`, a join that needs them waits; a guard dropped
    /// before that (the claim lost, a write failed) makes them unknown.
    pub fn storing<'a>(&'a self, run_id: &str, job_id: &str) -> StoringGuard<'a> {
        let key = (run_id.to_string(), job_id.to_string());
        let mut entries = self.lock();
        let (sender, _) = watch::channel(State::Storing);
        if entries.by_job.insert(key.clone(), sender).is_none() {
            entries.order.push_back(key.clone());
            if entries.order.len() > 2 * self.capacity {
                // Most entries go with their join's firing; drop their places too.
                let Entries { by_job, order } = &mut *entries;
                order.retain(|key| by_job.contains_key(key));
            }
            while entries.by_job.len() > self.capacity {
                let Some(oldest) = entries.order.pop_front() else {
                    break;
                };
                if oldest != key {
                    entries.by_job.remove(&oldest);
                }
            }
        }
        StoringGuard {
            registry: self,
            key,
            settled: false,
        }
    }

    /// What this process knows of the writes of `job_id`, waiting while they are stored.
    pub async fn known(&self, run_id: &str, job_id: &str) -> Known {
        let key = (run_id.to_string(), job_id.to_string());
        let receiver = match self.lock().by_job.get(&key) {
            Some(sender) => sender.subscribe(),
            None => return Known::Unknown,
        };
        let mut receiver = receiver;
        let ended = receiver
            .wait_for(|state| *state != State::Storing)
            .await
            .map(|state| *state);
        match ended {
            Ok(State::Stored) => Known::Stored,
            _ => Known::Unknown,
        }
    }

    /// The join these arrivals filled has fired: nobody waits on them any more.
    pub fn forget(&self, run_id: &str, job_ids: &[String]) {
        let mut entries = self.lock();
        for job_id in job_ids {
            entries.by_job.remove(&(run_id.to_string(), job_id.clone()));
        }
    }

    fn settle(&self, key: &Key, state: State) {
        let mut entries = self.lock();
        if let Some(sender) = entries.by_job.get(key) {
            sender.send_replace(state);
            if state == State::Failed {
                entries.by_job.remove(key);
            }
        }
    }
}

/// See `ArrivalWrites::storing`.
pub struct StoringGuard<'a> {
    registry: &'a ArrivalWrites,
    key: Key,
    settled: bool,
}

impl StoringGuard<'_> {
    /// The writes are stored.
    pub fn stored(mut self) {
        self.settled = true;
        self.registry.settle(&self.key, State::Stored);
    }
}

impl Drop for StoringGuard<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.registry.settle(&self.key, State::Failed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn a_join_waits_for_writes_being_stored_and_learns_how_it_ended() {
        let registry = Arc::new(ArrivalWrites::default());
        assert_eq!(registry.known("r", "a").await, Known::Unknown);
        registry.storing("r", "a").stored();
        assert_eq!(registry.known("r", "a").await, Known::Stored);

        let guard = registry.storing("r", "b");
        let waiter = {
            let registry = registry.clone();
            tokio::spawn(async move { registry.known("r", "b").await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "waits while the writes are being stored");
        guard.stored();
        assert_eq!(waiter.await.unwrap(), Known::Stored);

        let failing = registry.storing("r", "c");
        let waiter = {
            let registry = registry.clone();
            tokio::spawn(async move { registry.known("r", "c").await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(failing);
        assert_eq!(
            waiter.await.unwrap(),
            Known::Unknown,
            "a failed write is not known"
        );
        registry.forget("r", &["a".to_string(), "b".to_string()]);
        assert_eq!(registry.known("r", "a").await, Known::Unknown);
    }

    #[tokio::test]
    async fn past_its_capacity_the_oldest_entries_go() {
        let registry = ArrivalWrites::new(2);
        for job in ["a", "b", "c"] {
            registry.storing("r", job).stored();
        }
        assert_eq!(registry.known("r", "a").await, Known::Unknown);
        assert_eq!(registry.known("r", "c").await, Known::Stored);
    }
}
