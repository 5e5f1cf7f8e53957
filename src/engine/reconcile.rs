//! Bringing a stalled run back: a run that is `running` but whose outstanding work has
//! not changed for a while (its job message or timer was lost: a deleted topic, a
//! broker that lost data, a bug).
//!
//! The frontier is the run's outstanding work: every job routing dispatched (actions
//! and conditions already applied) whose effects are not recorded yet holds a token,
//! and its job is kept under that token. Reconciling publishes those jobs again with
//! their original ids, timers through the timer again with their original due time.
//! A copy of a job that was not lost after all lands on the same partition as the
//! original (jobs are keyed by run) and is skipped by the job's done-guard, or waits
//! for the original if it is running; two reconcilers publish the same ids. A run
//! with no outstanding work but no final result (a crash between the last release
//! and the settle) is settled. Either way, context writes that a done marker claimed
//! but whose handling died before storing them are stored first. A run whose coordination state is gone altogether (no
//! progress stamp) resumes from the frontier its context records (`frontier`). A run
//! whose blueprint this engine does not know fails.

use serde_json::{Map, Value};

use crate::engine::analysis::BlueprintPlan;
use crate::engine::completion::{dispatch, fail_run, settle, WorkRecord};
use crate::engine::error::EngineError;
use crate::engine::frontier::frontier;
use crate::engine::job::Job;
use crate::engine::keys;
use crate::engine::run::RunFailure;
use crate::engine::run::RunStatus;
use crate::engine::run_io;
use crate::engine::shared::EngineCore;

/// What reconciling one run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconciled {
    /// Its status row is final (the active-runs index was behind).
    Final,
    /// It waits for a human (`wait` node): not a stall.
    Awaiting,
    /// Its work changed after the cutoff: not stalled.
    Progressing,
    /// Outstanding jobs published again (and timers rescheduled).
    Republished { jobs: usize, timers: usize },
    /// Nothing was outstanding: the run was settled.
    Settled,
    /// Its coordination state was gone: the frontier computed from its context (recorded
    /// outputs and routing) was dispatched again, as `jobs` jobs.
    Resumed { jobs: usize },
    /// Cannot be resumed here (blueprint unknown): failed with this reason.
    Failed { reason: String },
}

pub async fn reconcile_run(
    core: &EngineCore,
    run_id: &str,
    stalled_before_ms: u64,
) -> Result<Reconciled, EngineError> {
    let backend = EngineError::backend(run_id);
    let record = core.backends.status.get(run_id).await.map_err(&backend)?;
    match record.map(|r| r.status) {
        Some(status) if status.is_final() => return Ok(Reconciled::Final),
        Some(RunStatus::Awaiting) => return Ok(Reconciled::Awaiting),
        _ => {}
    }
    let coordination = &core.backends.coordination;
    let progress = coordination
        .get(&keys::progress(run_id))
        .await
        .map_err(&backend)?;
    // Every reservation and release stamps progress: no stamp at all means the run's
    // coordination state is gone (lost by Redis, or expired), outstanding set included.
    let progress_missing = progress.is_none();
    if progress
        .and_then(|p| p.parse::<u64>().ok())
        .is_some_and(|at| at >= stalled_before_ms)
    {
        return Ok(Reconciled::Progressing);
    }
    run_io::store_claimed_writes(core, run_id)
        .await
        .map_err(&backend)?;
    let context = core.backends.context.load(run_id).await.map_err(&backend)?;
    let blueprint_id = context
        .get("blueprintId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some(plan) = core.plan(&blueprint_id).cloned() else {
        let reason =
            format!("Run cannot be resumed: blueprint '{blueprint_id}' is not known to this reconciler");
        fail_run(core, run_id, &blueprint_id, RunFailure::of_run(reason.clone())).await?;
        return Ok(Reconciled::Failed { reason });
    };
    let tokens = coordination
        .members(&keys::outstanding(run_id))
        .await
        .map_err(&backend)?;
    if tokens.is_empty() {
        if progress_missing {
            return resume_frontier(core, run_id, &plan, &context).await;
        }
        settle(core, run_id, &blueprint_id).await?;
        return Ok(Reconciled::Settled);
    }
    let (mut jobs, mut timers) = (Vec::new(), 0);
    for token in &tokens {
        // Tokens without a record (a running child run) are reconciled through that run.
        let Some(text) = coordination.work_record(run_id, token).await.map_err(&backend)? else {
            continue;
        };
        let Ok(work) = serde_json::from_str::<WorkRecord>(&text) else {
            continue;
        };
        match work.at_ms.filter(|at| *at > core.now_ms()) {
            Some(at) => {
                core.backends
                    .timer
                    .schedule(at, work.job)
                    .await
                    .map_err(&backend)?;
                timers += 1;
            }
            None => jobs.push(work.job),
        }
    }
    let republished = jobs.len();
    if !jobs.is_empty() {
        core.backends.transport.enqueue(jobs).await.map_err(&backend)?;
    }
    // The next pass waits a full threshold before publishing again.
    let stamp = core.now_ms().to_string();
    coordination
        .put(&keys::progress(run_id), &stamp)
        .await
        .map_err(&backend)?;
    Ok(Reconciled::Republished {
        jobs: republished,
        timers,
    })
}

/// The run's coordination state is gone: dispatch the frontier its context shows, under
/// ids derived from the run and node, so two reconcilers publish the same job and the
/// done-guard lets one of them run. An empty frontier means nothing is left: settle.
async fn resume_frontier(
    core: &EngineCore,
    run_id: &str,
    plan: &BlueprintPlan,
    context: &Map<String, Value>,
) -> Result<Reconciled, EngineError> {
    let blueprint_id = plan.id();
    let nodes = frontier(plan, context);
    if nodes.is_empty() {
        settle(core, run_id, blueprint_id).await?;
        return Ok(Reconciled::Settled);
    }
    let jobs: Vec<Job> = nodes
        .iter()
        .map(|node| Job::derived(run_id, blueprint_id, node, run_id, &format!("frontier:{node}")))
        .collect();
    let count = jobs.len();
    dispatch(core, run_id, jobs).await?;
    Ok(Reconciled::Resumed { jobs: count })
}
