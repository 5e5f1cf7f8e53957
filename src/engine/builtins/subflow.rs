//! `subflow` (T14): runs another blueprint as a child run (distributed like
//! any run, not inside the parent's job). The parent node's job reserves a
//! token and ends; when the child publishes its final result the parent
//! node is woken, and its output is the child's context without anything
//! runtime-internal.

use serde_json::{Map, Value};

use crate::engine::builtins::{BuiltinCall, BuiltinResult};
use crate::engine::completion::reserve;
use crate::engine::inputs::{inputs_key, outputs_key};
use crate::engine::job::{Job, JobPhase};
use crate::engine::keys;
use crate::engine::lifecycle::start::{start_run_internal, BLUEPRINT_ID, BLUEPRINT_VERSION};
use crate::engine::run::{IfRunExists, RunStatus, StartOptions};
use crate::engine::step::{Completion, Continuation, NodeStep};
use crate::engine::traits::ContextOp;

/// The child run of the parent node woken by `wake_job_id`.
pub fn child_run_id(parent_run_id: &str, node_id: &str, wake_job_id: &str) -> String {
    format!("{parent_run_id}/{node_id}/{wake_job_id}")
}

fn child_blueprint_id<'a>(call: &'a BuiltinCall<'_>) -> Result<&'a str, String> {
    call.node.param_str("blueprintId").ok_or_else(|| {
        format!(
            "Subflow node '{}' is missing the 'blueprintId' parameter.",
            call.node.id
        )
    })
}

/// The child's initial context: `params.inputs` mapped from the parent, or
/// the node's input as every child start node's `_inputs`.
fn child_initial_context(call: &BuiltinCall<'_>, start_nodes: &[String]) -> Map<String, Value> {
    let mut initial = Map::new();
    if let Some(Value::Object(mapping)) = call.node.param("inputs") {
        for (child_key, parent_key) in mapping {
            let Some(parent_key) = parent_key.as_str() else {
                continue;
            };
            let value = call
                .context
                .get(parent_key)
                .or_else(|| call.context.get(&outputs_key(parent_key)));
            if let Some(value) = value {
                initial.insert(child_key.clone(), value.clone());
            }
        }
    } else if let Some(input) = &call.input {
        for start in start_nodes {
            initial.insert(inputs_key(start), input.clone());
        }
    }
    initial
}

pub async fn execute(call: &BuiltinCall<'_>) -> BuiltinResult {
    let child_bp = child_blueprint_id(call)?;
    let child_plan = call
        .core
        .plan(child_bp)
        .ok_or_else(|| {
            format!("Sub-blueprint with ID '{child_bp}' not found in the worker's runtime registry.")
        })?
        .clone();
    let initial = child_initial_context(call, &child_plan.start_nodes);
    let job = call.job;
    let mut wake = Job::derived(
        &job.run_id,
        &job.blueprint_id,
        &call.node.id,
        &job.job_id,
        "subflow",
    );
    wake.phase = JobPhase::Wake;
    let child_run = child_run_id(&call.job.run_id, &call.node.id, &wake.job_id);
    let err = |e: crate::engine::error::EngineError| e.to_string();
    // The parent stays outstanding until the child's result wakes it.
    reserve(call.core, &call.job.run_id, &[wake.job_id.as_str()])
        .await
        .map_err(err)?;
    let link = serde_json::to_string(&wake).map_err(|e| e.to_string())?;
    call.core
        .backends
        .coordination
        .claim_once(&keys::subflow_parent(&child_run), &link)
        .await
        .map_err(|e| e.to_string())?;
    let options = StartOptions {
        run_id: Some(child_run),
        if_exists: IfRunExists::Overwrite,
        start_job_origin: Some(wake.job_id.clone()),
        ..StartOptions::default()
    };
    start_run_internal(call.core, child_bp, initial, options)
        .await
        .map_err(err)?;
    Ok(NodeStep::Deferred {
        ops: Vec::new(),
        continuation: Continuation::External,
    })
}

/// The child's context as the subflow's output (T14): its initial keys,
/// its `_outputs.*` / `_inputs.*` and the keys its nodes wrote; nothing
/// runtime-internal (seeded bookkeeping, `_awaiting*`, `_resume.*`,
/// `_catch_error`, `_batch.*`, ...) and no bare node-id keys.
fn public_child_context(
    child: Map<String, Value>,
    node_ids: &[&str],
    initial_keys: &[&str],
) -> Map<String, Value> {
    child
        .into_iter()
        .filter(|(key, _)| {
            let engine_key =
                key.starts_with('_') && !key.starts_with("_outputs.") && !key.starts_with("_inputs.");
            let internal = engine_key
                || key == BLUEPRINT_ID
                || key == BLUEPRINT_VERSION
                || node_ids.contains(&key.as_str());
            !internal || initial_keys.contains(&key.as_str())
        })
        .collect()
}

pub async fn wake(call: &BuiltinCall<'_>) -> BuiltinResult {
    let child_bp = child_blueprint_id(call)?;
    let child_plan = call
        .core
        .plan(child_bp)
        .ok_or_else(|| format!("Sub-blueprint with ID '{child_bp}' not found."))?
        .clone();
    let child_run = child_run_id(&call.job.run_id, &call.node.id, &call.job.job_id);
    let backends = &call.core.backends;
    let record = backends
        .status
        .get(&child_run)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("Sub-workflow run '{child_run}' has no status"))?;
    if record.status != RunStatus::Completed {
        let reason = record.status_data.and_then(|d| d.reason).unwrap_or_default();
        return Err(format!(
            "Sub-workflow '{child_bp}' did not complete successfully. Status: {}. Error: {reason}",
            record.status.as_str()
        ));
    }
    let child = backends
        .context
        .load(&child_run)
        .await
        .map_err(|e| e.to_string())?;
    let node_ids: Vec<&str> = child_plan.blueprint.nodes.iter().map(|n| n.id.as_str()).collect();
    let initial_keys: Vec<&str> = match call.node.param("inputs") {
        Some(Value::Object(mapping)) => mapping.keys().map(String::as_str).collect(),
        _ => Vec::new(),
    };
    let child = public_child_context(child, &node_ids, &initial_keys);
    let mut ops = Vec::new();
    let output = if let Some(Value::Object(outputs)) = call.node.param("outputs") {
        for (parent_key, child_key) in outputs {
            let Some(child_key) = child_key.as_str() else {
                continue;
            };
            let value = child
                .get(&outputs_key(child_key))
                .filter(|v| !v.is_null())
                .or_else(|| child.get(child_key));
            ops.push(ContextOp::set_or_delete(parent_key.clone(), value.cloned()));
        }
        Some(Value::Object(child))
    } else if child_plan.terminal_nodes.len() == 1 {
        child.get(&outputs_key(&child_plan.terminal_nodes[0])).cloned()
    } else {
        let mut by_terminal = Map::new();
        for terminal in &child_plan.terminal_nodes {
            if let Some(value) = child.get(&outputs_key(terminal)) {
                by_terminal.insert(terminal.clone(), value.clone());
            }
        }
        Some(Value::Object(by_terminal))
    };
    Ok(NodeStep::Completed(Completion {
        output,
        ops,
        ..Completion::default()
    }))
}
