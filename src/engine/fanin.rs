//! Fan-in: whether an arrival at a node makes it ready. Membership is a
//! set of predecessor ids, so a redelivered predecessor never counts twice;
//! an `'any'` join fires exactly once per run (T9); a `loop-controller`
//! with `'any'` fires on every arrival (T3). An `'all'` join's set is
//! cleared when it fires, so a join inside a loop can fire again.
//!
//! Each firing is recorded under the arriving job's id, so when that job
//! is handled again (its worker died before the transport committed), it
//! fires again and re-publishes the same derived job id instead of losing
//! the join.

use serde_json::Value;

use crate::engine::analysis::BlueprintPlan;
use crate::engine::builtins;
use crate::engine::error::EngineError;
use crate::engine::job::Job;
use crate::engine::keys;
use crate::engine::lifecycle::origin::{self, DeferredArrival};
use crate::engine::policy::JoinStrategy;
use crate::engine::run_state;
use crate::engine::shared::EngineCore;
use crate::engine::working::WorkingContext;

/// How many arrivals `target` needs: its distinct static predecessors plus
/// the batch workers a `batch-gather` waits for.
pub fn expected_arrivals(plan: &BlueprintPlan, target: &str, context: &WorkingContext<'_>) -> usize {
    let statics = plan.predecessors(target).len();
    let workers = match plan.node(target) {
        Some(node) if node.uses == builtins::BATCH_GATHER => context
            .get(&builtins::batch::all_worker_ids_key(target))
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
        _ => 0,
    };
    statics + workers
}

/// As `arrive`, for `arriving_job`, the job the current task handles: an arrival at an
/// `'all'` join is left to that job's finish, which makes it in the same atomic step as
/// the job's done marker and reserves `job` (the join's) if it fires; answers false
/// then. Outside a job's handling it arrives now.
#[allow(clippy::too_many_arguments)]
pub async fn arrive_or_defer(
    core: &EngineCore,
    plan: &BlueprintPlan,
    run_id: &str,
    target: &str,
    member: &str,
    arriving_job: &str,
    expected: usize,
    job: &Job,
) -> Result<bool, EngineError> {
    let all_join = expected > 1 && plan.policy(target).join != JoinStrategy::Any;
    if all_join && run_state::owns(run_id) {
        let mut job = job.clone();
        crate::engine::trace::stamp(std::slice::from_mut(&mut job));
        let arrival = DeferredArrival {
            key: keys::fan_in(run_id, target),
            member: member.to_string(),
            expected,
            job,
        };
        if origin::defer_arrival(arrival) {
            return Ok(false);
        }
    }
    arrive(core, plan, run_id, target, member, arriving_job, expected).await
}

/// Records that `member` arrived at `target`, which waits for `expected` arrivals
/// (`expected_arrivals`); true when `target` must run now.
pub async fn arrive(
    core: &EngineCore,
    plan: &BlueprintPlan,
    run_id: &str,
    target: &str,
    member: &str,
    arriving_job: &str,
    expected: usize,
) -> Result<bool, EngineError> {
    if expected <= 1 {
        return Ok(true);
    }
    let coordination = &core.backends.coordination;
    let backend = EngineError::backend_at(run_id, target);
    let policy = plan.policy(target);
    if policy.join == JoinStrategy::Any {
        let is_loop = plan
            .node(target)
            .is_some_and(|n| n.uses == builtins::LOOP_CONTROLLER);
        if is_loop {
            return Ok(true);
        }
        let key = keys::any_join_fired(run_id, target);
        if coordination
            .claim_once(&key, arriving_job)
            .await
            .map_err(&backend)?
        {
            return Ok(true);
        }
        let firer = coordination.get(&key).await.map_err(&backend)?;
        return Ok(firer.as_deref() == Some(arriving_job));
    }
    let key = keys::fan_in(run_id, target);
    let fired = keys::join_fired_by(run_id, target, arriving_job);
    // One atomic step: a worker dying between adding this arrival and claiming the
    // firing would otherwise leave a full, unfired join behind.
    coordination
        .arrive_at_join(&key, member, expected, &fired)
        .await
        .map_err(&backend)
}
