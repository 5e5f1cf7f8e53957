//! "Is anything left?": every job, timer and child run of a run holds a
//! token in the run's outstanding set in the coordination store (not in
//! process memory, so several workers share it). Tokens are added before
//! the work is published and removed after its effects are recorded; the
//! removal that empties the set settles the run: `awaiting` when a node
//! waits, else `completed`. A failure publishes `failed` at once. The first
//! final result is the only one published (T2, T9): it is claimed in the
//! coordination store first (`claim_final`), and the status store never
//! replaces a final result.

use serde_json::{json, Value};

use crate::engine::awaiting;
use crate::engine::builtins::subflow_pause;
use crate::engine::error::EngineError;
use crate::engine::events::EventKind;
use crate::engine::job::{Job, JobPhase};
use crate::engine::keys;
use crate::engine::lifecycle::origin;
use crate::engine::log::Level;
use crate::engine::run::{FailedNode, PublishedResult, RunFailure, RunStatus};
use crate::engine::run_io;
use crate::engine::run_state;
use crate::engine::shared::EngineCore;
use crate::engine::trace;
use crate::engine::traits::FinalClaim;

/// Registers tokens as outstanding work of the run.
pub async fn reserve(core: &EngineCore, run_id: &str, tokens: &[&str]) -> Result<(), EngineError> {
    let key = keys::outstanding(run_id);
    for token in tokens {
        core.backends
            .coordination
            .add_member(&key, token)
            .await
            .map_err(EngineError::backend(run_id))?;
    }
    Ok(())
}

/// Reserves the tokens of jobs (due at `at_ms`, or now) and records each job under its
/// token, all at once, so a reconciler can publish again what was lost.
pub async fn reserve_jobs(
    core: &EngineCore,
    run_id: &str,
    jobs: &[Job],
    at_ms: Option<u64>,
) -> Result<(), EngineError> {
    let records = jobs
        .iter()
        .map(|job| (job.job_id.clone(), work_record(job, at_ms)))
        .collect();
    core.backends
        .coordination
        .reserve_jobs(run_id, records, core.now_ms().to_string())
        .await
        .map_err(EngineError::backend(run_id))
}

/// Reserves tokens for jobs and publishes them. Successors of the run whose job is
/// being handled wait for that job's finish, which reserves them in the same atomic
/// step as its done marker (see `lifecycle::handler`).
pub async fn dispatch(core: &EngineCore, run_id: &str, mut jobs: Vec<Job>) -> Result<(), EngineError> {
    if jobs.is_empty() {
        return Ok(());
    }
    trace::stamp(&mut jobs);
    let jobs = if run_state::owns(run_id) {
        match origin::defer(jobs) {
            Ok(()) => return Ok(()),
            Err(jobs) => jobs,
        }
    } else {
        jobs
    };
    reserve_jobs(core, run_id, &jobs, None).await?;
    publish(core, run_id, jobs).await
}

/// What `keys::work` records for a job (due at `at_ms`, or now).
pub fn work_record(job: &Job, at_ms: Option<u64>) -> String {
    json!({"job": job, "atMs": at_ms}).to_string()
}

/// A new run's start job's record, when the job carries the run's seed (which the record
/// leaves out: a job published again reads the context instead).
pub fn seeded_work_record(job: &Job) -> String {
    json!({"job": job, "atMs": null, "seeded": true}).to_string()
}

/// A job kept under its outstanding token (`work_record`, `seeded_work_record`).
#[derive(Debug, serde::Deserialize)]
pub struct WorkRecord {
    pub job: Job,
    #[serde(rename = "atMs")]
    pub at_ms: Option<u64>,
    /// The job was published with the run's seed (`Job::seed`).
    #[serde(default)]
    pub seeded: bool,
}

/// Publishes already reserved jobs: with the delivery being handled, when there is one.
pub async fn publish(core: &EngineCore, run_id: &str, jobs: Vec<Job>) -> Result<(), EngineError> {
    let transport = &core.backends.transport;
    let published = match origin::current_receipt() {
        Some(receipt) => {
            origin::record_dispatched(&jobs);
            transport.enqueue_from(receipt, jobs).await
        }
        None => transport.enqueue(jobs).await,
    };
    published.map_err(EngineError::backend(run_id))
}

/// Reserves a token for a job and hands it to the timer.
pub async fn schedule(core: &EngineCore, run_id: &str, at_ms: u64, mut job: Job) -> Result<(), EngineError> {
    trace::stamp(std::slice::from_mut(&mut job));
    reserve_jobs(core, run_id, std::slice::from_ref(&job), Some(at_ms)).await?;
    core.backends
        .timer
        .schedule(at_ms, job)
        .await
        .map_err(EngineError::backend(run_id))
}

/// Removes a token; settles the run when nothing is left.
pub async fn release(
    core: &EngineCore,
    run_id: &str,
    blueprint_id: &str,
    token: &str,
) -> Result<(), EngineError> {
    let coordination = &core.backends.coordination;
    let outstanding = keys::outstanding(run_id);
    let (progress, stamp) = (keys::progress(run_id), core.now_ms().to_string());
    let (left, stamped) = futures::join!(
        coordination.remove_member(&outstanding, token),
        coordination.put(&progress, &stamp)
    );
    stamped.map_err(EngineError::backend(run_id))?;
    let left = left.map_err(EngineError::backend(run_id))?;
    if left == 0 {
        settle(core, run_id, blueprint_id).await?;
    }
    Ok(())
}

/// Nothing is left to run: publish `awaiting` or `completed`.
pub async fn settle(core: &EngineCore, run_id: &str, blueprint_id: &str) -> Result<(), EngineError> {
    if run_io::is_final(core, run_id)
        .await
        .map_err(EngineError::backend(run_id))?
    {
        return Ok(());
    }
    let context = run_io::current_context(core, run_id)
        .await
        .map_err(EngineError::backend(run_id))?;
    if !awaiting::waiting(&context).is_empty() {
        let result = PublishedResult {
            status: RunStatus::Awaiting,
            failed_node: None,
            reason: None,
            context: None,
            published_at_ms: core.now_ms(),
        };
        let accepted = core
            .backends
            .status
            .publish(run_id, result, core.now_ms())
            .await
            .map_err(EngineError::backend(run_id))?;
        if accepted {
            core.telemetry().runs_awaiting_changed(1);
            core.emit(
                EventKind::RunPause,
                run_id,
                blueprint_id,
                None,
                None,
                || json!({}),
            );
            subflow_pause::pause_parent(core, run_id).await?;
        }
        return Ok(());
    }
    let outcome = FinalOutcome {
        status: RunStatus::Completed,
        reason: None,
        failed_node: None,
        context: Some(context),
    };
    publish_final(core, run_id, blueprint_id, outcome)
        .await
        .map(|_| ())
}

/// Fails the run once (later failures publish nothing).
pub async fn fail_run(
    core: &EngineCore,
    run_id: &str,
    blueprint_id: &str,
    failure: RunFailure,
) -> Result<(), EngineError> {
    let reason = format!("{} in run '{run_id}'", failure.reason);
    let outcome = FinalOutcome {
        status: RunStatus::Failed,
        reason: Some(reason),
        failed_node: failure.node,
        context: None,
    };
    publish_final(core, run_id, blueprint_id, outcome)
        .await
        .map(|_| ())
}

/// A run's final result, as `publish_final` publishes it.
pub struct FinalOutcome {
    pub status: RunStatus,
    pub reason: Option<String>,
    pub failed_node: Option<FailedNode>,
    pub context: Option<serde_json::Map<String, Value>>,
}

/// Publishes the run's final result unless another one was first; true when this one is.
pub async fn publish_final(
    core: &EngineCore,
    run_id: &str,
    blueprint_id: &str,
    outcome: FinalOutcome,
) -> Result<bool, EngineError> {
    let now = core.now_ms();
    let FinalOutcome {
        status,
        reason,
        failed_node,
        context,
    } = outcome;
    let result = PublishedResult {
        status,
        failed_node: failed_node.clone(),
        reason: reason.clone(),
        context,
        published_at_ms: now,
    };
    let won = claim_final(core, run_id, now).await?
        && core
            .backends
            .status
            .publish(run_id, result, now)
            .await
            .map_err(EngineError::backend(run_id))?;
    // Won or not, the run is final now; its copies elsewhere learn it through the epoch,
    // bumped here or, for the winner, when it forgets the run.
    if !won {
        return run_io::finalized(core, run_id)
            .await
            .map(|_| false)
            .map_err(EngineError::backend(run_id));
    }
    core.run_state.mark_final(run_id);
    core.telemetry().run_finished(blueprint_id, status.as_str());
    let level = match status {
        RunStatus::Failed => Level::Warn,
        RunStatus::Cancelled => Level::Info,
        _ => Level::Debug,
    };
    core.log().log_with(level, || {
        let context = json!({"runId": run_id, "blueprintId": blueprint_id, "status": status.as_str(), "reason": reason});
        (format!("Run '{run_id}' of '{blueprint_id}' {}", status.as_str()), context)
    });
    core.emit(
        EventKind::RunFinish,
        run_id,
        blueprint_id,
        None,
        None,
        || json!({"status": status.as_str(), "reason": reason, "failedNode": failed_node, "publishedAt": now}),
    );
    wake_subflow_parent(core, run_id).await?;
    core.backends
        .coordination
        .forget_run(run_id)
        .await
        .map(|_| true)
        .map_err(EngineError::backend(run_id))
}

/// A finished child run continues the parent's `subflow` node.
async fn wake_subflow_parent(core: &EngineCore, child_run_id: &str) -> Result<(), EngineError> {
    let link = core
        .backends
        .coordination
        .get(&keys::subflow_parent(child_run_id))
        .await
        .map_err(EngineError::backend(child_run_id))?;
    let Some(link) = link else {
        return Ok(());
    };
    let Ok(mut parent) = serde_json::from_str::<Job>(&link) else {
        return Ok(());
    };
    parent.phase = JobPhase::Wake;
    // The parent reserved this job's token when it started the child.
    let run_id = parent.run_id.clone();
    publish(core, &run_id, vec![parent]).await
}

/// How long a final claim may stand without its result in the status row before another
/// finisher takes it over: far longer than a claim-to-write takes, so only a holder that
/// died in between (and is not a job, which its redelivery would finish) is replaced.
const STALE_FINAL_CLAIM_MS: u64 = 60_000;

/// Whether this task is the one to publish the run's final result (see
/// `CoordinationStore::claim_final`). A job claims under its own id, so its redelivery
/// after a crash claims again; that one publishes unless the row shows the first
/// handling got as far as writing (it announced then, or waiters find the row).
async fn claim_final(core: &EngineCore, run_id: &str, now: u64) -> Result<bool, EngineError> {
    let backend = EngineError::backend(run_id);
    let claimant = run_state::handled_job().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let coordination = &core.backends.coordination;
    let claim = coordination
        .claim_final(run_id, &claimant, now, None)
        .await
        .map_err(&backend)?;
    let row_is_final = || async { run_io::stored_is_final(core, run_id).await.map_err(&backend) };
    match claim {
        FinalClaim::Won => Ok(true),
        FinalClaim::Again => Ok(!row_is_final().await?),
        FinalClaim::Lost { held, at_ms } => {
            if now.saturating_sub(at_ms) < STALE_FINAL_CLAIM_MS || row_is_final().await? {
                return Ok(false);
            }
            let taken = coordination
                .claim_final(run_id, &claimant, now, Some(&held))
                .await
                .map_err(&backend)?;
            Ok(taken == FinalClaim::Won)
        }
    }
}
