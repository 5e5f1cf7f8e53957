//! Records a finished node and moves the run on: the node's context writes,
//! `_outputs.<id>` and every followed edge's `_inputs.<target>` go to the
//! context store in one batch; then, unless the run already has its final
//! result (T9: in-flight branches enqueue nothing), ready successors are
//! enqueued.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::engine::analysis::BlueprintPlan;
use crate::engine::blueprint::EdgeDefinition;
use crate::engine::builtins::batch::{worker_id, worker_job};
use crate::engine::completion::dispatch;
use crate::engine::error::EngineError;
use crate::engine::events::EventKind;
use crate::engine::fanin;
use crate::engine::inputs::outputs_key;
use crate::engine::job::{DynamicNode, Job};
use crate::engine::keys;
use crate::engine::routing::{deliver, select_edges, RouteMode, RouteResult};
use crate::engine::run_io;
use crate::engine::shared::EngineCore;
use crate::engine::step::Completion;
use crate::engine::traits::ContextOp;
use crate::engine::working::WorkingContext;

async fn run_is_final(core: &EngineCore, run_id: &str) -> Result<bool, EngineError> {
    run_io::is_final(core, run_id)
        .await
        .map_err(EngineError::backend(run_id))
}

/// The node's own writes and its output, applied to the working view.
fn record_output(node_id: &str, completion: &mut Completion, working: &mut WorkingContext<'_>) {
    for op in std::mem::take(&mut completion.ops) {
        working.apply(op);
    }
    working.apply(ContextOp::set_or_delete(
        outputs_key(node_id),
        completion.output.clone(),
    ));
}

/// Which node finished, in which run, handled by which job (or resume).
#[derive(Debug, Clone, Copy)]
pub struct Finished<'a> {
    pub run_id: &'a str,
    pub node_id: &'a str,
    /// The job (or resume token) whose id the successor ids derive from.
    pub origin: &'a str,
}

/// When `complete` writes the node's context writes.
enum WriteTiming {
    /// Before arriving at successors: what they read is stored before they are enqueued.
    Now,
    /// Not at all: handed back for the job's finish to write after its done marker.
    Deferred,
}

/// A static node finished (or was resumed, with `RouteMode::Resume`), on `context`, the
/// run's context as the job found it. The context is let go before the write: the
/// owner's copy is then updated in place rather than copied.
pub async fn complete(
    core: &EngineCore,
    plan: &BlueprintPlan,
    finished: Finished<'_>,
    mut completion: Completion,
    context: Arc<Map<String, Value>>,
    mode: RouteMode,
) -> Result<(), EngineError> {
    advance(
        core,
        plan,
        finished,
        &mut completion,
        context,
        mode,
        WriteTiming::Now,
    )
    .await
    .map(|_| ())
}

/// As `complete`, for a node of `plan.claims_with_marker` whose result is not claimed
/// yet: its successors are deferred as always, and its context writes are handed back
/// instead of written, so that nothing of a handling that loses the claim is stored.
/// `completion` keeps everything but its ops.
pub async fn complete_deferring_writes(
    core: &EngineCore,
    plan: &BlueprintPlan,
    finished: Finished<'_>,
    completion: &mut Completion,
    context: Arc<Map<String, Value>>,
) -> Result<Vec<ContextOp>, EngineError> {
    let timing = WriteTiming::Deferred;
    let deferred = advance(
        core,
        plan,
        finished,
        completion,
        context,
        RouteMode::Normal,
        timing,
    )
    .await?;
    Ok(deferred.unwrap_or_default())
}

async fn advance(
    core: &EngineCore,
    plan: &BlueprintPlan,
    finished: Finished<'_>,
    completion: &mut Completion,
    context: Arc<Map<String, Value>>,
    mode: RouteMode,
    timing: WriteTiming,
) -> Result<Option<Vec<ContextOp>>, EngineError> {
    let Finished {
        run_id,
        node_id,
        origin,
    } = finished;
    let backend = EngineError::backend_at(run_id, node_id);
    let mut working = WorkingContext::new(&context);
    record_output(node_id, completion, &mut working);
    let result = RouteResult {
        output: completion.output.as_ref(),
        action: completion.action.as_deref(),
    };
    let evaluator = core.backends.evaluator.as_ref();
    let selection = select_edges(plan, node_id, result, &working, evaluator, mode).await;
    announce_evaluations(core, plan, run_id, node_id, &selection.evaluated);
    let mut deliveries = Vec::with_capacity(selection.edges.len());
    for edge in selection.edges {
        // Also records the delivered input (`_inputs.<target>`) in `working`.
        let delivery = deliver(plan, edge, completion.output.as_ref(), &mut working, evaluator).await;
        deliveries.push(delivery);
    }
    // Each successor this node arrives at once, with the arrivals it waits for: those its
    // edges reached, then the 'all' joins it completed for without reaching them (T2).
    let mut arrivals: Vec<(String, usize)> = Vec::new();
    let mut delivered = HashSet::new();
    for delivery in &deliveries {
        if delivered.insert(delivery.target.as_str()) {
            let expected = fanin::expected_arrivals(plan, &delivery.target, &working);
            arrivals.push((delivery.target.clone(), expected));
        }
    }
    arrivals.extend(fanin::completed_elsewhere(plan, node_id, &delivered, &working));
    // A start-less cycle's entry ran first; reached again, FlowRuntime does not re-run it.
    arrivals.retain(|(target, _)| !plan.cut_entries.contains(target));
    let ops = working.into_writes();
    announce_changes(core, plan, run_id, node_id, &ops);
    drop(context);
    let deferred = match timing {
        WriteTiming::Now => {
            run_io::write_context(core, run_id, ops).await.map_err(&backend)?;
            None
        }
        WriteTiming::Deferred => Some(ops),
    };
    for delivery in deliveries.iter().filter(|d| d.rewrites_inputs) {
        core.backends
            .coordination
            .claim_once(&keys::inputs_rewritten(run_id, &delivery.target), node_id)
            .await
            .map_err(&backend)?;
    }
    if run_is_final(core, run_id).await? {
        return Ok(deferred);
    }
    let mut jobs = Vec::new();
    for (target, expected) in &arrivals {
        let job = Job::derived(run_id, plan.id(), target, origin, &format!("next:{target}"));
        if fanin::arrive_or_defer(core, plan, run_id, target, node_id, origin, *expected, &job).await? {
            jobs.push(job);
        }
    }
    for spec in &completion.workers {
        jobs.push(worker_job(run_id, plan.id(), spec, spec.index));
    }
    dispatch(core, run_id, jobs).await?;
    Ok(deferred)
}

/// `context:change` for each write of the node's handling (its own writes, its output,
/// its successors' inputs), as FlowRuntime's context emits them.
fn announce_changes(core: &EngineCore, plan: &BlueprintPlan, run_id: &str, node_id: &str, ops: &[ContextOp]) {
    for op in ops {
        core.emit(
            EventKind::ContextChange,
            run_id,
            plan.id(),
            Some(node_id),
            None,
            || match op {
                ContextOp::Set { key, value } => json!({"key": key, "op": "set", "value": value}),
                ContextOp::Delete { key } => json!({"key": key, "op": "delete"}),
            },
        );
    }
}

/// `edge:evaluate` for each condition routing evaluated, and `node:skipped` for each
/// edge whose condition did not hold, as FlowRuntime's logic handler emits them.
fn announce_evaluations(
    core: &EngineCore,
    plan: &BlueprintPlan,
    run_id: &str,
    node_id: &str,
    evaluated: &[(&EdgeDefinition, bool)],
) {
    for (edge, held) in evaluated {
        core.emit(EventKind::EdgeEvaluate, run_id, plan.id(), Some(node_id), None, || {
            json!({"source": edge.source, "target": edge.target, "condition": edge.condition, "result": held})
        });
        if !held {
            core.emit(
                EventKind::NodeSkipped,
                run_id,
                plan.id(),
                Some(node_id),
                None,
                || json!({"edge": edge}),
            );
        }
    }
}

/// A batch worker finished: record its output, start the next chunk when
/// this one is done, and arrive at the gather node.
pub async fn worker_finished(
    core: &EngineCore,
    plan: &BlueprintPlan,
    run_id: &str,
    job_id: &str,
    spec: &DynamicNode,
    mut completion: Completion,
    context: Arc<Map<String, Value>>,
) -> Result<(), EngineError> {
    let id = worker_id(spec);
    let backend = EngineError::backend_at(run_id, &id);
    let gather = spec.gather_node_id.as_str();
    let mut working = WorkingContext::new(&context);
    record_output(&id, &mut completion, &mut working);
    let expected = fanin::expected_arrivals(plan, gather, &working);
    let ops = working.into_writes();
    drop(context);
    run_io::write_context(core, run_id, ops).await.map_err(&backend)?;
    if run_is_final(core, run_id).await? {
        return Ok(());
    }
    let mut jobs = Vec::new();
    if spec.chunk_size < spec.total {
        let done = core
            .backends
            .coordination
            .add_member(&keys::batch_progress(run_id, &spec.batch_id), &id)
            .await
            .map_err(&backend)?;
        // Also when re-handled (`added` false): the next chunk's job ids are
        // derived, so publishing them twice duplicates nothing.
        if done.size % spec.chunk_size == 0 && done.size < spec.total {
            let next = done.size..(done.size + spec.chunk_size).min(spec.total);
            jobs.extend(next.map(|index| worker_job(run_id, plan.id(), spec, index)));
        }
    }
    let job = Job::derived(run_id, plan.id(), gather, job_id, &format!("next:{gather}"));
    if fanin::arrive_or_defer(core, plan, run_id, gather, &id, job_id, expected, &job).await? {
        jobs.push(job);
    }
    dispatch(core, run_id, jobs).await
}
