//! Sets and set-if-absent keys, atomically under one lock (Redis-like).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::engine::keys;
use crate::engine::traits::{
    BackendError, BackendResult, BoxFuture, CoordinationStore, FinalClaim, JobFinish, JobFinished,
    JoinArrival, JoinOutcome, SetAdd,
};

#[derive(Default)]
struct State {
    sets: HashMap<String, HashSet<String>>,
    values: HashMap<String, String>,
    /// The job behind each member of a join's arrival set, by (set key, member).
    arrived_jobs: HashMap<(String, String), String>,
}

impl State {
    fn bump_epoch(&mut self, run_id: &str) -> u64 {
        let value = self
            .values
            .entry(keys::epoch(run_id))
            .or_insert_with(|| "0".into());
        let epoch = value.parse::<u64>().unwrap_or(0) + 1;
        *value = epoch.to_string();
        epoch
    }

    fn reserve(&mut self, run_id: &str, token: &str, record: &str) {
        self.values.insert(keys::work(run_id, token), record.to_string());
        let outstanding = keys::outstanding(run_id);
        self.sets
            .entry(outstanding)
            .or_default()
            .insert(token.to_string());
    }

    fn arrive(&mut self, run_id: &str, arrival: &JoinArrival) -> JoinOutcome {
        let set = self.sets.entry(arrival.key.clone()).or_default();
        if set.insert(arrival.member.clone()) {
            let member = (arrival.key.clone(), arrival.member.clone());
            self.arrived_jobs.insert(member, arrival.job_id.clone());
        }
        if set.len() < arrival.expected {
            return JoinOutcome::Waiting;
        }
        let members = self.sets.remove(&arrival.key).unwrap_or_default();
        let arrived: Option<Vec<String>> = members
            .into_iter()
            .map(|member| self.arrived_jobs.remove(&(arrival.key.clone(), member)))
            .collect();
        let (token, record) = &arrival.job;
        self.reserve(run_id, token, record);
        JoinOutcome::Fired { arrived }
    }
}

#[derive(Default)]
pub struct MemoryCoordinationStore {
    state: Mutex<State>,
}

impl MemoryCoordinationStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, operation: &'static str, f: impl FnOnce(&mut State) -> T) -> BackendResult<T> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| BackendError::new(operation, "coordination lock poisoned"))?;
        Ok(f(&mut state))
    }
}

impl CoordinationStore for MemoryCoordinationStore {
    /// All of it under the store's lock, as the Redis script does it.
    fn finish_job<'a>(&'a self, finish: JobFinish<'a>) -> BoxFuture<'a, BackendResult<JobFinished>> {
        Box::pin(async move {
            self.with("finish job", |s| {
                let run_id = finish.run_id;
                let done = keys::job_done(run_id, finish.job_id);
                let claimed = !s.values.contains_key(&done);
                let mut joins = vec![JoinOutcome::Waiting; finish.arrivals.len()];
                if claimed {
                    s.values.insert(done, finish.marker.clone());
                    for (token, record) in &finish.successors {
                        s.reserve(run_id, token, record);
                    }
                    for (arrival, outcome) in finish.arrivals.iter().zip(joins.iter_mut()) {
                        *outcome = s.arrive(run_id, arrival);
                    }
                }
                s.values.insert(keys::progress(run_id), finish.stamp.clone());
                let outstanding = keys::outstanding(run_id);
                let left = match s.sets.get_mut(&outstanding) {
                    Some(tokens) => {
                        tokens.remove(finish.token);
                        tokens.len()
                    }
                    None => 0,
                };
                if left == 0 {
                    s.sets.remove(&outstanding);
                }
                JobFinished {
                    claimed,
                    drained: left == 0,
                    joins,
                }
            })
        })
    }

    fn add_member<'a>(&'a self, key: &'a str, member: &'a str) -> BoxFuture<'a, BackendResult<SetAdd>> {
        Box::pin(async move {
            self.with("add member", |s| {
                let set = s.sets.entry(key.to_string()).or_default();
                let added = set.insert(member.to_string());
                SetAdd {
                    added,
                    size: set.len(),
                }
            })
        })
    }

    fn remove_member<'a>(&'a self, key: &'a str, member: &'a str) -> BoxFuture<'a, BackendResult<usize>> {
        Box::pin(async move {
            self.with("remove member", |s| {
                let Some(set) = s.sets.get_mut(key) else {
                    return 0;
                };
                set.remove(member);
                let left = set.len();
                if left == 0 {
                    s.sets.remove(key);
                }
                left
            })
        })
    }

    fn set_size<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<usize>> {
        Box::pin(async move { self.with("set size", |s| s.sets.get(key).map_or(0, HashSet::len)) })
    }

    fn arrive_at_join<'a>(
        &'a self,
        key: &'a str,
        member: &'a str,
        expected: usize,
        fired_key: &'a str,
    ) -> BoxFuture<'a, BackendResult<bool>> {
        Box::pin(async move {
            self.with("arrive at join", |s| {
                let set = s.sets.entry(key.to_string()).or_default();
                let added = set.insert(member.to_string());
                if s.values.contains_key(fired_key) {
                    if added {
                        set.remove(member);
                    }
                    return true;
                }
                if set.len() >= expected {
                    s.sets.remove(key);
                    s.values.insert(fired_key.to_string(), "fired".into());
                    return true;
                }
                false
            })
        })
    }

    fn has_member<'a>(&'a self, key: &'a str, member: &'a str) -> BoxFuture<'a, BackendResult<bool>> {
        Box::pin(async move {
            self.with("has member", |s| {
                s.sets.get(key).is_some_and(|set| set.contains(member))
            })
        })
    }

    fn clear_set<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            self.with("clear set", |s| {
                s.sets.remove(key);
            })
        })
    }

    fn claim_once<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, BackendResult<bool>> {
        Box::pin(async move {
            self.with("claim once", |s| {
                if s.values.contains_key(key) {
                    false
                } else {
                    s.values.insert(key.to_string(), value.to_string());
                    true
                }
            })
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<Option<String>>> {
        Box::pin(async move { self.with("get", |s| s.values.get(key).cloned()) })
    }

    fn put<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            self.with("put", |s| {
                s.values.insert(key.to_string(), value.to_string());
            })
        })
    }

    fn values_with_prefix<'a>(&'a self, key_prefix: &'a str) -> BoxFuture<'a, BackendResult<Vec<String>>> {
        Box::pin(async move {
            self.with("values with prefix", |s| {
                s.values
                    .iter()
                    .filter(|(key, _)| key.starts_with(key_prefix))
                    .map(|(_, value)| value.clone())
                    .collect()
            })
        })
    }

    fn members<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<Vec<String>>> {
        Box::pin(async move {
            self.with("members", |s| {
                s.sets
                    .get(key)
                    .map(|set| set.iter().cloned().collect())
                    .unwrap_or_default()
            })
        })
    }

    fn bump_epoch<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<u64>> {
        Box::pin(async move { self.with("bump epoch", |s| s.bump_epoch(run_id)) })
    }

    fn claim_final<'a>(
        &'a self,
        run_id: &'a str,
        claimant: &'a str,
        now_ms: u64,
        replacing: Option<&'a str>,
    ) -> BoxFuture<'a, BackendResult<FinalClaim>> {
        Box::pin(async move {
            self.with("claim final result", |s| {
                let key = keys::final_claim(run_id);
                let claim = FinalClaim::judge(claimant, s.values.get(&key).cloned(), replacing);
                if claim == FinalClaim::Won {
                    s.values.insert(key, FinalClaim::encode(claimant, now_ms));
                }
                claim
            })
        })
    }

    fn forget_run<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            // Keys are `flowcraft:<kind>:<runId>[:...]`; the epoch and the final claim
            // outlive the run.
            let (epoch, final_claim) = (keys::epoch(run_id), keys::final_claim(run_id));
            let run_part = keys::run_key_part(run_id);
            let of_run = |key: &String| {
                key.split(':').nth(2) == Some(run_part.as_ref()) && *key != epoch && *key != final_claim
            };
            self.with("forget run", |s| {
                s.sets.retain(|k, _| !of_run(k));
                s.values.retain(|k, _| !of_run(k));
                s.bump_epoch(run_id);
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sets_are_idempotent_and_claims_happen_once() {
        let store = MemoryCoordinationStore::new();
        assert_eq!(
            store.add_member("k", "a").await.unwrap(),
            SetAdd { added: true, size: 1 }
        );
        assert_eq!(
            store.add_member("k", "a").await.unwrap(),
            SetAdd {
                added: false,
                size: 1
            }
        );
        assert_eq!(store.add_member("k", "b").await.unwrap().size, 2);
        assert_eq!(store.remove_member("k", "a").await.unwrap(), 1);
        assert_eq!(store.remove_member("k", "a").await.unwrap(), 1);
        assert_eq!(store.remove_member("k", "b").await.unwrap(), 0);
        assert_eq!(store.set_size("k").await.unwrap(), 0);
        assert!(store.claim_once("c", "x").await.unwrap());
        assert!(!store.claim_once("c", "y").await.unwrap());
        assert_eq!(store.get("c").await.unwrap().as_deref(), Some("x"));
    }

    #[tokio::test]
    async fn forgetting_a_run_drops_only_its_keys() {
        let store = MemoryCoordinationStore::new();
        store.add_member("flowcraft:fanin:r1:j", "a").await.unwrap();
        store.claim_once("flowcraft:done:r1:x", "done").await.unwrap();
        store.claim_once("flowcraft:done:r10:x", "done").await.unwrap();
        store.forget_run("r1").await.unwrap();
        assert_eq!(store.set_size("flowcraft:fanin:r1:j").await.unwrap(), 0);
        assert_eq!(store.get("flowcraft:done:r1:x").await.unwrap(), None);
        assert!(store.get("flowcraft:done:r10:x").await.unwrap().is_some());
    }
}
