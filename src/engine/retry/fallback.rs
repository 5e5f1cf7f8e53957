//! T7: after the last failed attempt of a node with `config.fallback`, write
//! `_catch_error`, run the fallback node's implementation once with its own
//! input and config, and let its output stand for the failed node's.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::engine::analysis::BlueprintPlan;
use crate::engine::inputs::{outputs_key, resolve_node_input};
use crate::engine::retry::attempt::{run_attempts, AttemptsOutcome, CallTemplate};
use crate::engine::shared::EngineCore;
use crate::engine::step::{Completion, FinishNotice, NodeStep};
use crate::engine::traits::ContextOp;

pub const CATCH_ERROR: &str = "_catch_error";

/// Runs `fallback_id` for the failed `node_id`.
pub async fn run_fallback(
    core: &EngineCore,
    plan: &BlueprintPlan,
    run_id: &str,
    node_id: &str,
    fallback_id: &str,
    context: &Map<String, Value>,
    inputs_rewritten: bool,
) -> NodeStep {
    let Some(fallback) = plan.node(fallback_id) else {
        return NodeStep::Failed {
            reason: format!("Node '{node_id}' failed: fallback node '{fallback_id}' not found in blueprint"),
            fatal: true,
        };
    };
    if !core.invoker.has(&fallback.uses) {
        return NodeStep::Failed {
            reason: format!(
                "Node '{node_id}' failed: fallback '{fallback_id}': Implementation for '{}' not found.",
                fallback.uses
            ),
            fatal: true,
        };
    }
    // HEAD's shape: the wrapper message, the failed node and the blueprint.
    let caught = json!({
        "message": format!("Node '{node_id}' execution failed"),
        "nodeId": node_id,
        "blueprintId": plan.id(),
    });
    let mut snapshot = context.clone();
    snapshot.insert(CATCH_ERROR.into(), caught.clone());
    let template = CallTemplate {
        run_id: run_id.to_string(),
        blueprint_id: plan.id().to_string(),
        node_id: fallback_id.to_string(),
        uses: fallback.uses.clone(),
        input: resolve_node_input(fallback, &snapshot, inputs_rewritten),
        params: fallback.params(),
        context: Arc::new(snapshot),
        prepared: None,
    };
    match run_attempts(core, &template, &plan.policy(fallback_id), 1, true).await {
        AttemptsOutcome::Succeeded { result, attempt } => {
            let mut ops = vec![ContextOp::set(CATCH_ERROR, caught)];
            ops.extend(result.context_ops);
            ops.push(ContextOp::set_or_delete(
                outputs_key(fallback_id),
                result.output.clone(),
            ));
            NodeStep::Completed(Completion {
                output: result.output,
                action: result.action,
                ops,
                workers: Vec::new(),
                finished: Some(FinishNotice::new(fallback_id, attempt)),
            })
        }
        AttemptsOutcome::Exhausted { failure, .. } => NodeStep::Failed {
            reason: format!(
                "Node '{node_id}' failed and its fallback '{fallback_id}' failed too: {}",
                failure.message
            ),
            fatal: failure.fatal,
        },
        AttemptsOutcome::Interrupted => NodeStep::Interrupted,
        AttemptsOutcome::RetryLater { .. } => unreachable!("fallback delays are inline"),
    }
}
