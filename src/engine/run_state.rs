//! What a worker knows of the runs whose jobs it handles: their context and whether
//! they are final, kept in memory so that a hop reads nothing from the state store.
//!
//! A run's jobs are keyed by its id, so they share one partition and one owner. The
//! owner's copy is the latest while two things hold, both checked when a job begins:
//! - the transport's assignment *generation* is the one the copy was read under (a
//!   rebalance may have let another worker handle the run meanwhile);
//! - the run's *epoch* in the coordination store is the one the copy was read under.
//!   Every writer that is not the owner handling the run's own job (a client's start or
//!   resume, a reconciler, another run's subflow, any final result) bumps the epoch
//!   after its writes and before it publishes anything that depends on them.
//!
//! Otherwise the job reads the stores and the copy is replaced. The owner's own writes
//! go to the copy as they go to the store. Memory is bounded: past `capacity` runs the
//! oldest copies are dropped (they are read again if their run comes back), and final
//! runs keep only the fact that they are final.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value};

use crate::engine::traits::ContextOp;

/// The job the current task handles, its run, and the transport's assignment generation
/// when the handling began.
struct Owned {
    run_id: String,
    job_id: String,
    generation: Option<u64>,
}

tokio::task_local! {
    static OWNED_RUN: Owned;
}

/// Runs `work` as the handling of job `job_id` of `run_id` by the run's owner, begun
/// under assignment `generation`: context writes and reads of that run inside it use the
/// owner's copy while the generation stays the same (`owns_under`).
pub async fn owning<F: Future>(run_id: &str, job_id: &str, generation: Option<u64>, work: F) -> F::Output {
    let owned = Owned {
        run_id: run_id.to_string(),
        job_id: job_id.to_string(),
        generation,
    };
    OWNED_RUN.scope(owned, work).await
}

/// Whether the current task handles a job of `run_id` and the assignment is still the
/// one it began under (`generation_now`). After a rebalance the partition may have moved:
/// a new owner may have read the run before this task's writes, so they must tell it
/// (the epoch), as any other writer's do.
pub fn owns_under(run_id: &str, generation_now: Option<u64>) -> bool {
    OWNED_RUN
        .try_with(|owned| {
            owned.run_id == run_id && generation_now.is_some() && owned.generation == generation_now
        })
        .unwrap_or(false)
}

/// Whether the current task handles a job of `run_id` (see `owning`).
pub fn owns(run_id: &str) -> bool {
    OWNED_RUN
        .try_with(|owned| owned.run_id == run_id)
        .unwrap_or(false)
}

/// The id of the job the current task handles, if any.
pub fn handled_job() -> Option<String> {
    OWNED_RUN.try_with(|owned| owned.job_id.clone()).ok()
}

/// Under which conditions a copy was read (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    pub generation: u64,
    pub epoch: u64,
}

/// A job's view of its run at the start of its handling.
#[derive(Debug, Clone)]
pub struct RunSnapshot {
    pub context: Arc<Map<String, Value>>,
    pub is_final: bool,
}

struct CachedRun {
    freshness: Freshness,
    context: Arc<Map<String, Value>>,
    is_final: bool,
}

#[derive(Default)]
struct Runs {
    by_id: HashMap<String, CachedRun>,
    /// Insertion order, for eviction (ids may repeat; stale ones are skipped).
    order: VecDeque<String>,
}

pub struct RunStateCache {
    runs: Mutex<Runs>,
    capacity: usize,
}

/// Default bound on runs held per worker: well above the runs a worker has in progress
/// at once (a job per run at a time, `concurrency` jobs), while a worker holding
/// thousands of runs that wait (joins, sleeps) keeps only this many copies (~5 KB each
/// for a dag10 run); an evicted run's next job reads its context from the store again.
pub const DEFAULT_CAPACITY: usize = 4_096;

impl Default for RunStateCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl RunStateCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            runs: Mutex::new(Runs::default()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Runs> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The copy of `run_id`, if it was read under `freshness`.
    pub fn lookup(&self, run_id: &str, freshness: Freshness) -> Option<RunSnapshot> {
        let runs = self.lock();
        let run = runs.by_id.get(run_id)?;
        (run.freshness == freshness).then(|| RunSnapshot {
            context: run.context.clone(),
            is_final: run.is_final,
        })
    }

    /// Keeps what was just read from the stores under `freshness`, unless a copy read
    /// under the same conditions is there already (it may hold writes the read missed).
    /// Answers the copy that stands.
    pub fn store(&self, run_id: &str, freshness: Freshness, snapshot: RunSnapshot) -> RunSnapshot {
        let mut runs = self.lock();
        if let Some(run) = runs.by_id.get(run_id) {
            if run.freshness == freshness {
                return RunSnapshot {
                    context: run.context.clone(),
                    is_final: run.is_final,
                };
            }
        }
        let fresh = runs
            .by_id
            .insert(
                run_id.to_string(),
                CachedRun {
                    freshness,
                    context: snapshot.context.clone(),
                    is_final: snapshot.is_final,
                },
            )
            .is_none();
        if fresh {
            runs.order.push_back(run_id.to_string());
            self.evict(&mut runs);
        }
        snapshot
    }

    fn evict(&self, runs: &mut Runs) {
        while runs.by_id.len() > self.capacity {
            let Some(oldest) = runs.order.pop_front() else {
                break;
            };
            runs.by_id.remove(&oldest);
        }
        // Ids whose copy was dropped (forget) linger in `order`: trim them too.
        if runs.order.len() > 2 * self.capacity {
            let Runs { by_id, order } = runs;
            order.retain(|id| by_id.contains_key(id));
        }
    }

    /// The owner wrote `ops` to the run's context.
    pub fn apply(&self, run_id: &str, ops: &[ContextOp]) {
        let mut runs = self.lock();
        if let Some(run) = runs.by_id.get_mut(run_id) {
            let context = Arc::make_mut(&mut run.context);
            for op in ops {
                op.apply_to(context);
            }
        }
    }

    /// The latest context the owner holds (within its handling of the run's job).
    pub fn context(&self, run_id: &str) -> Option<Arc<Map<String, Value>>> {
        self.lock().by_id.get(run_id).map(|run| run.context.clone())
    }

    /// Whether the owner's copy says the run is final; `None` when it holds none.
    pub fn is_final(&self, run_id: &str) -> Option<bool> {
        self.lock().by_id.get(run_id).map(|run| run.is_final)
    }

    /// The run has its final result: keep only that fact.
    pub fn mark_final(&self, run_id: &str) {
        if let Some(run) = self.lock().by_id.get_mut(run_id) {
            run.is_final = true;
            run.context = Arc::default();
        }
    }

    /// Drops the copy (a write to the store failed, so the copy may be ahead of it).
    pub fn forget(&self, run_id: &str) {
        self.lock().by_id.remove(run_id);
    }

    /// Runs held.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AT: Freshness = Freshness {
        generation: 1,
        epoch: 0,
    };

    fn snapshot(pairs: &[(&str, Value)]) -> RunSnapshot {
        let context = pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        RunSnapshot {
            context: Arc::new(context),
            is_final: false,
        }
    }

    #[test]
    fn a_copy_serves_only_under_the_conditions_it_was_read_under() {
        let cache = RunStateCache::new(10);
        cache.store("r", AT, snapshot(&[("a", json!(1))]));
        assert!(cache.lookup("r", AT).is_some());
        let bumped = Freshness { epoch: 1, ..AT };
        let moved = Freshness { generation: 2, ..AT };
        assert!(
            cache.lookup("r", bumped).is_none(),
            "another writer bumped the epoch"
        );
        assert!(cache.lookup("r", moved).is_none(), "a rebalance happened");
    }

    #[test]
    fn a_late_read_does_not_replace_a_copy_that_holds_newer_writes() {
        let cache = RunStateCache::new(10);
        cache.store("r", AT, snapshot(&[]));
        cache.apply("r", &[ContextOp::set("x", json!(2))]);
        let standing = cache.store("r", AT, snapshot(&[]));
        assert_eq!(standing.context.get("x"), Some(&json!(2)));
        let newer = Freshness { epoch: 3, ..AT };
        let replaced = cache.store("r", newer, snapshot(&[("y", json!(1))]));
        assert!(replaced.context.get("x").is_none());
        assert_eq!(
            cache.lookup("r", newer).unwrap().context.get("y"),
            Some(&json!(1))
        );
    }

    #[test]
    fn writes_apply_to_the_copy_and_final_runs_drop_their_context() {
        let cache = RunStateCache::new(10);
        let before = cache.store("r", AT, snapshot(&[("a", json!(1))]));
        cache.apply("r", &[ContextOp::set("b", json!(2)), ContextOp::delete("a")]);
        let after = cache.lookup("r", AT).unwrap();
        assert_eq!(after.context.get("b"), Some(&json!(2)));
        assert!(after.context.get("a").is_none());
        assert_eq!(
            before.context.get("a"),
            Some(&json!(1)),
            "a job's snapshot never changes under it"
        );
        cache.mark_final("r");
        let done = cache.lookup("r", AT).unwrap();
        assert!(done.is_final && done.context.is_empty());
    }

    #[test]
    fn memory_is_bounded_oldest_first() {
        let cache = RunStateCache::new(3);
        for id in ["a", "b", "c", "d"] {
            cache.store(id, AT, snapshot(&[]));
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.lookup("a", AT).is_none());
        assert!(cache.lookup("d", AT).is_some());
        for round in 0..100 {
            let id = format!("x{round}");
            cache.store(&id, AT, snapshot(&[]));
            cache.forget(&id);
        }
        assert!(cache.lock().order.len() <= 6);
    }

    #[tokio::test]
    async fn ownership_is_per_task_and_per_run() {
        assert!(!owns("r"));
        owning("r", "j", Some(1), async {
            assert!(owns("r"));
            assert!(!owns("other"));
            assert_eq!(handled_job().as_deref(), Some("j"));
            // The owner's copy is only for the assignment the handling began under.
            assert!(owns_under("r", Some(1)));
            assert!(!owns_under("r", Some(2)), "a rebalance since it began");
            assert!(!owns_under("r", None), "no owning transport");
            assert!(!owns_under("other", Some(1)));
        })
        .await;
    }
}
