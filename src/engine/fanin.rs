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

use std::collections::HashSet;

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

/// What an arrival that may never make its join run waits for: more arrivals than a join
/// can have, so it only counts its predecessor as completed.
pub const COUNTS_ONLY: usize = usize::MAX;

/// T2, as FlowRuntime's traverser decides it: an `'all'` join counts a predecessor once it
/// has completed, whichever edges it took. So `node_id`, done, arrives at each `'all'` join
/// it precedes but took no edge into (`delivered` holds those it did). Such an arrival
/// counts only (`COUNTS_ONLY`): the join runs when an edge into it is taken and every
/// predecessor has completed; or, when `node_id` took no edge at all, this arrival decides
/// too, unless an edge into the join has a condition. Answers (join, expected arrivals).
pub fn completed_elsewhere(
    plan: &BlueprintPlan,
    node_id: &str,
    delivered: &HashSet<&str>,
    context: &WorkingContext<'_>,
) -> Vec<(String, usize)> {
    let took_none = delivered.is_empty();
    let mut joins: Vec<(String, usize)> = Vec::new();
    for edge in plan.outgoing_edges(node_id) {
        let target = edge.target.as_str();
        let all_join = plan.policy(target).join != JoinStrategy::Any
            && plan.predecessors(target).len() > 1
            && plan
                .node(target)
                .is_some_and(|n| n.uses != builtins::BATCH_GATHER);
        if !all_join || delivered.contains(target) || joins.iter().any(|(join, _)| join == target) {
            continue;
        }
        let decides = took_none && !has_conditional_edge_into(plan, target);
        let expected = if decides {
            expected_arrivals(plan, target, context)
        } else {
            COUNTS_ONLY
        };
        joins.push((target.to_string(), expected));
    }
    joins
}

fn has_conditional_edge_into(plan: &BlueprintPlan, target: &str) -> bool {
    plan.predecessors(target).iter().any(|source| {
        plan.outgoing_edges(source)
            .any(|edge| edge.target == target && edge.condition.is_some())
    })
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
