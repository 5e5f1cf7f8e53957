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
//! go to the copy as they go to the store, and a read of the store never becomes the
//! copy while one of them is on its way (`traffic`). Memory is bounded: past `capacity` runs the
//! oldest copies are dropped (they are read again if their run comes back), and final
//! runs keep only the fact that they are final.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value};

use crate::engine::traits::ContextOp;

mod traffic;

use traffic::Traffic;
pub use traffic::{ReadStart, StoreRead, StoreWrite};

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
    traffic: Traffic,
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
        self.store_in(&mut self.lock(), run_id, freshness, snapshot)
    }

    fn store_in(
        &self,
        runs: &mut Runs,
        run_id: &str,
        freshness: Freshness,
        snapshot: RunSnapshot,
    ) -> RunSnapshot {
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
            self.evict(runs);
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
            let Runs { by_id, order, .. } = runs;
            order.retain(|id| by_id.contains_key(id));
        }
    }

    /// The owner wrote `ops` to the run's context.
    pub fn apply(&self, run_id: &str, ops: &[ContextOp]) {
        Self::apply_to_copy(&mut self.lock(), run_id, ops);
    }

    fn apply_to_copy(runs: &mut Runs, run_id: &str, ops: &[ContextOp]) {
        if let Some(run) = runs.by_id.get_mut(run_id) {
            let context = Arc::make_mut(&mut run.context);
            for op in ops {
                op.apply_to(context);
            }
        }
    }

    /// The owner is writing `ops` to the store: the copy takes them now, and no read of
    /// the store becomes the copy until the write has landed (or failed: the copy, then
    /// ahead of the store, is dropped).
    pub fn write(&self, run_id: &str, ops: &[ContextOp]) -> StoreWrite<'_> {
        let mut runs = self.lock();
        Self::apply_to_copy(&mut runs, run_id, ops);
        runs.traffic.write_started(run_id);
        StoreWrite::new(self, run_id)
    }

    /// This process is writing to the store what the copy cannot take (writes replayed
    /// at an older stamp, which the store may overrule key by key): the copy is dropped,
    /// and no read becomes the copy until the write has landed.
    pub fn overwrite(&self, run_id: &str) -> StoreWrite<'_> {
        let mut runs = self.lock();
        runs.by_id.remove(run_id);
        runs.traffic.write_started(run_id);
        StoreWrite::new(self, run_id)
    }

    /// A read of the run from the store begins, or must wait for the writes on their way.
    pub fn read(&self, run_id: &str) -> ReadStart<'_> {
        match self.lock().traffic.read_started(run_id) {
            Ok(started) => ReadStart::Ready(StoreRead {
                cache: self,
                run_id: run_id.to_string(),
                started,
            }),
            Err(writing) => ReadStart::Wait(writing),
        }
    }

    /// Keeps what `read` found under `freshness` and answers the copy that stands; `None`
    /// when a write started while it read (it may have missed it: read again).
    pub fn keep(
        &self,
        read: &StoreRead<'_>,
        freshness: Freshness,
        snapshot: RunSnapshot,
    ) -> Option<RunSnapshot> {
        let mut runs = self.lock();
        let standing = runs
            .by_id
            .get(&read.run_id)
            .is_some_and(|run| run.freshness == freshness);
        if !standing && !runs.traffic.undisturbed(&read.run_id, read.started) {
            return None;
        }
        Some(self.store_in(&mut runs, &read.run_id, freshness, snapshot))
    }

    /// Whether no write started while `read` read (what it found is the latest).
    pub fn undisturbed(&self, read: &StoreRead<'_>) -> bool {
        self.lock().traffic.undisturbed(&read.run_id, read.started)
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
mod tests;
