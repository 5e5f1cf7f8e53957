//! Every read and write of a run's context and final status that the engine makes goes
//! through here, so the owner's in-memory copy (`run_state`) and the epoch that guards
//! it stay right: the owner, handling its run's job, reads and updates its copy; any
//! other writer bumps the run's epoch after writing.

use std::future::Future;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::engine::error::EngineError;
use crate::engine::job::Job;
use crate::engine::lifecycle::admission::{self, Admission};
use crate::engine::lifecycle::origin::DoneMarker;
use crate::engine::run_state::{owns_under, Freshness, ReadStart, RunSnapshot, StoreRead};
use crate::engine::shared::EngineCore;
use crate::engine::traits::{BackendResult, ContextOp, JobStart, WriteStamp};

/// What a job found when it began.
pub enum Begun {
    /// An earlier handling finished the job: its done marker.
    Done { marker: String },
    /// The job is to be handled, on this view of its run.
    ToHandle {
        /// The result an earlier handling stored (`keys::recorded`), if any.
        recorded: Option<String>,
        snapshot: RunSnapshot,
    },
    /// Not a job its run expects (`lifecycle::admission`): set it aside, change nothing.
    Refused { reason: String },
    /// A copy of a job of a run that has finished since: nothing to do.
    Late,
    /// The run's timer job, arrived well before its time (`at_ms`).
    Early { at_ms: u64 },
}

/// Whether the current task may use the owner's copy of `run_id`: it handles the run's
/// job, and no rebalance happened since it began.
fn owned(core: &EngineCore, run_id: &str) -> bool {
    owns_under(run_id, core.backends.transport.generation())
}

/// Reads the job's done marker, stored result, reservation and run epoch (one
/// coordination read) and admits the job or not; then the run: the owner's copy when it
/// is provably the latest, else the stores.
pub async fn begin_job(core: &EngineCore, job: &Job) -> Result<Begun, EngineError> {
    let run_id = job.run_id.as_str();
    let backend = EngineError::backend_at(run_id, &job.node_id);
    // Read before anything else: a rebalance from here on makes the copy we keep stale.
    let generation = core.backends.transport.generation();
    let start = core
        .backends
        .coordination
        .begin_job(run_id, &job.job_id)
        .await
        .map_err(&backend)?;
    let JobStart {
        done,
        recorded,
        epoch,
        reservation,
    } = start;
    if let Some(marker) = done {
        return Ok(Begun::Done { marker });
    }
    let seed_allowed = match admission::judge(job, &reservation, core.now_ms()) {
        Admission::Expected { seed_allowed } => seed_allowed,
        Admission::Early { at_ms } => return Ok(Begun::Early { at_ms }),
        Admission::Refused { reason } => return Ok(Begun::Refused { reason }),
        Admission::Unreserved => {
            if is_final(core, run_id).await.map_err(&backend)? {
                return Ok(Begun::Late);
            }
            if !job.reference_format {
                let why = "no job of the run is outstanding under its id";
                return Ok(Begun::Refused {
                    reason: admission::refusal(job, why),
                });
            }
            if let Some(reason) = admission::reference_start(core, job).await.map_err(&backend)? {
                return Ok(Begun::Refused { reason });
            }
            false
        }
    };
    let freshness = generation.map(|generation| Freshness { generation, epoch });
    if let Some(snapshot) = freshness.and_then(|f| core.run_state.lookup(run_id, f)) {
        return Ok(Begun::ToHandle { recorded, snapshot });
    }
    let seeded = seed_allowed.then(|| seeded_context(core, job, epoch)).flatten();
    if let (Some(freshness), Some(context)) = (freshness, seeded) {
        let snapshot = RunSnapshot {
            context: Arc::new(context),
            is_final: false,
        };
        let snapshot = core.run_state.store(run_id, freshness, snapshot);
        return Ok(Begun::ToHandle { recorded, snapshot });
    }
    let snapshot = match freshness {
        Some(freshness) => {
            let keep = |read: &StoreRead<'_>, snapshot| core.run_state.keep(read, freshness, snapshot);
            read_settled(core, run_id, || stored_run(core, run_id), keep).await
        }
        None => stored_run(core, run_id).await,
    };
    let snapshot = snapshot.map_err(&backend)?;
    Ok(Begun::ToHandle { recorded, snapshot })
}

/// The run as the stores hold it.
async fn stored_run(core: &EngineCore, run_id: &str) -> BackendResult<RunSnapshot> {
    let is_final = stored_is_final(core, run_id).await?;
    let context = if is_final {
        Map::new()
    } else {
        core.backends.context.load(run_id).await?
    };
    Ok(RunSnapshot {
        context: Arc::new(context),
        is_final,
    })
}

/// Reads the run from the stores (`read`) once none of this process's writes to it is on
/// its way, again until no write started while it read (`keep` answers `None` then):
/// what the owner reads must hold every write it has made (see `run_state::traffic`).
async fn read_settled<Read, Reading>(
    core: &EngineCore,
    run_id: &str,
    read: Read,
    keep: impl Fn(&StoreRead<'_>, RunSnapshot) -> Option<RunSnapshot>,
) -> BackendResult<RunSnapshot>
where
    Read: Fn() -> Reading,
    Reading: Future<Output = BackendResult<RunSnapshot>>,
{
    loop {
        let reading = match core.run_state.read(run_id) {
            ReadStart::Ready(reading) => reading,
            ReadStart::Wait(mut writing) => {
                // An error means the last write went with its sender: none is left.
                let _ = writing.wait_for(|on_their_way| *on_their_way == 0).await;
                continue;
            }
        };
        let snapshot = read().await?;
        if let Some(kept) = keep(&reading, snapshot) {
            return Ok(kept);
        }
    }
}

/// The context a new run's start job carries (its client published it: the record says
/// so), when it is provably the run's latest: no other writer since the client's (the
/// epoch it bumped is unchanged) and no job of the run has written (this is the run's
/// only start job, and until it is done the only writes are its own: those a stored
/// result of an earlier handling replays on it).
fn seeded_context(core: &EngineCore, job: &Job, epoch: u64) -> Option<Map<String, Value>> {
    let seed = job.seed.as_ref().filter(|seed| seed.epoch == epoch)?;
    let plan = core.plan(&job.blueprint_id)?;
    let [only_start] = plan.start_nodes.as_slice() else {
        return None;
    };
    let is_start_job = job.node_id == *only_start && job.dynamic.is_none();
    is_start_job.then(|| seed.context.clone())
}

/// Writes `ops` to the run's context (all or none). The owner's copy takes them first,
/// in the order the writes are issued; a failed write drops the copy. Any other writer
/// bumps the epoch once the write is stored.
pub async fn write_context(core: &EngineCore, run_id: &str, ops: Vec<ContextOp>) -> BackendResult<()> {
    write_context_at(core, run_id, ops, WriteStamp::next()).await
}

/// As `write_context`, as of `stamp` (decided before, and kept to be replayed).
pub async fn write_context_at(
    core: &EngineCore,
    run_id: &str,
    ops: Vec<ContextOp>,
    stamp: WriteStamp,
) -> BackendResult<()> {
    if owned(core, run_id) {
        let writing = core.run_state.write(run_id, &ops);
        core.backends.context.apply(run_id, ops, stamp).await?;
        writing.landed();
        return moved_meanwhile(core, run_id).await;
    }
    core.backends.context.apply(run_id, ops, stamp).await?;
    core.backends.coordination.bump_epoch(run_id).await.map(|_| ())
}

/// After an owner's write: if the partition moved while it was written, the new owner
/// may hold a copy read before it, so the epoch tells it to read again.
async fn moved_meanwhile(core: &EngineCore, run_id: &str) -> BackendResult<()> {
    if owned(core, run_id) {
        return Ok(());
    }
    core.run_state.forget(run_id);
    core.backends.coordination.bump_epoch(run_id).await.map(|_| ())
}

/// Applies again writes recorded earlier at `stamp` (a job's done marker keeps them):
/// the store keeps any newer write of the same keys, and the owner's copy, which cannot
/// tell, is dropped and read again.
pub async fn replay_writes(
    core: &EngineCore,
    run_id: &str,
    ops: Vec<ContextOp>,
    stamp: WriteStamp,
) -> BackendResult<()> {
    let owner = owned(core, run_id);
    let writing = core.run_state.overwrite(run_id);
    core.backends.context.apply(run_id, ops, stamp).await?;
    writing.landed();
    if owner {
        return moved_meanwhile(core, run_id).await;
    }
    core.backends.coordination.bump_epoch(run_id).await.map(|_| ())
}

/// The run's latest context: the owner's copy, else the store.
pub async fn current_context(core: &EngineCore, run_id: &str) -> BackendResult<Map<String, Value>> {
    if !owned(core, run_id) {
        return core.backends.context.load(run_id).await;
    }
    if let Some(context) = core.run_state.context(run_id) {
        return Ok(Arc::unwrap_or_clone(context));
    }
    let load = || async {
        let context = core.backends.context.load(run_id).await?;
        Ok(RunSnapshot {
            context: Arc::new(context),
            is_final: false,
        })
    };
    let settled = |read: &StoreRead<'_>, snapshot| core.run_state.undisturbed(read).then_some(snapshot);
    let snapshot = read_settled(core, run_id, load, settled).await?;
    Ok(Arc::unwrap_or_clone(snapshot.context))
}

/// Whether the run has its final result: the owner's copy knows, else the status store.
pub async fn is_final(core: &EngineCore, run_id: &str) -> BackendResult<bool> {
    if owned(core, run_id) {
        if let Some(is_final) = core.run_state.is_final(run_id) {
            return Ok(is_final);
        }
    }
    stored_is_final(core, run_id).await
}

/// Whether the status store holds a final result for the run (a read, whatever the
/// owner's copy says).
pub async fn stored_is_final(core: &EngineCore, run_id: &str) -> BackendResult<bool> {
    let record = core.backends.status.get(run_id).await?;
    Ok(record.is_some_and(|r| r.status.is_final()))
}

/// The run got its final result (here or elsewhere): the owner's copy says so, and
/// every other copy learns it through the epoch.
pub async fn finalized(core: &EngineCore, run_id: &str) -> BackendResult<()> {
    core.run_state.mark_final(run_id);
    core.backends.coordination.bump_epoch(run_id).await.map(|_| ())
}

/// Writes again every context write a done marker of the run claimed: a handling that
/// claimed its result and died before writing it leaves the writes only there (see
/// `lifecycle::finish`), and what is settled or published next must see them. Their
/// stamps keep any newer write; the epoch tells every copy (the owner's too) to read
/// again.
pub async fn store_claimed_writes(core: &EngineCore, run_id: &str) -> BackendResult<()> {
    let markers = core
        .backends
        .coordination
        .values_with_prefix(&crate::engine::keys::job_done(run_id, ""))
        .await?;
    let claimed: Vec<_> = markers
        .iter()
        .filter_map(|text| serde_json::from_str::<DoneMarker>(text).ok()?.writes)
        .collect();
    if claimed.is_empty() {
        return Ok(());
    }
    let writing = core.run_state.overwrite(run_id);
    for writes in claimed {
        core.backends
            .context
            .apply(run_id, writes.ops, writes.stamp)
            .await?;
    }
    writing.landed();
    core.backends.coordination.bump_epoch(run_id).await.map(|_| ())
}
