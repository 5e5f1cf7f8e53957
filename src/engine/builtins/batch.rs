//! `batch-scatter` / `batch-gather` (T6). The scatter writes one
//! `_batch.<scatter>_<batchId>_item_<i>` key per item and starts one worker
//! per item (`<workerUsesKey>_<batchId>_<i>`), chunk by chunk with
//! `params.chunkSize`; the gather is an `'all'` join over the scatter and
//! every worker, and collects the workers' outputs in item order.

use serde_json::{json, Value};

use crate::engine::builtins::{BuiltinCall, BuiltinResult};
use crate::engine::events::EventKind;
use crate::engine::inputs::outputs_key;
use crate::engine::job::{derive_job_id, DynamicNode, Job};
use crate::engine::step::{Completion, NodeStep};
use crate::engine::traits::ContextOp;

pub fn all_worker_ids_key(gather_id: &str) -> String {
    format!("{gather_id}_allWorkerIds")
}

pub fn worker_id(spec: &DynamicNode) -> String {
    format!("{}_{}_{}", spec.uses, spec.batch_id, spec.index)
}

/// The job of worker `index` of the batch `template` belongs to.
pub fn worker_job(run_id: &str, blueprint_id: &str, template: &DynamicNode, index: usize) -> Job {
    let spec = DynamicNode {
        index,
        input_key: format!(
            "_batch.{}_{}_item_{index}",
            template.scatter_node_id, template.batch_id
        ),
        ..template.clone()
    };
    let purpose = format!("worker:{index}");
    let mut job = Job::derived(
        run_id,
        blueprint_id,
        &worker_id(&spec),
        &template.batch_id,
        &purpose,
    );
    job.dynamic = Some(spec);
    job
}

pub fn scatter(call: &BuiltinCall<'_>) -> BuiltinResult {
    let node_id = &call.node.id;
    let items = match &call.input {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => {
            return Err(format!(
                "Input for batch-scatter node '{node_id}' must be an array."
            ))
        }
    };
    let uses = call
        .node
        .param_str("workerUsesKey")
        .ok_or_else(|| format!("batch-scatter node '{node_id}' needs params.workerUsesKey"))?;
    let gather = call
        .node
        .param_str("gatherNodeId")
        .ok_or_else(|| format!("batch-scatter node '{node_id}' needs params.gatherNodeId"))?;
    let total = items.len();
    let chunk_size = call
        .node
        .param("chunkSize")
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
        .map_or(total.max(1), |n| n as usize);
    let template = DynamicNode {
        uses: uses.to_string(),
        input_key: String::new(),
        scatter_node_id: node_id.clone(),
        gather_node_id: gather.to_string(),
        // Derived from the scatter's job: a re-handled job makes the same batch.
        batch_id: derive_job_id(&call.job.job_id, "batch"),
        index: 0,
        total,
        chunk_size,
    };
    let mut ops = Vec::with_capacity(total + 3);
    let mut worker_ids = Vec::with_capacity(total);
    for (index, item) in items.into_iter().enumerate() {
        let key = format!("_batch.{node_id}_{}_item_{index}", template.batch_id);
        ops.push(ContextOp::set(key, item));
        worker_ids.push(json!(worker_id(&DynamicNode {
            index,
            ..template.clone()
        })));
    }
    // FlowRuntime names the batch after its builder's node ids (`<id>_scatter`).
    call.core.emit(
        EventKind::BatchStart,
        &call.job.run_id,
        call.plan.id(),
        Some(node_id),
        None,
        || {
            let batch = node_id.replacen("_scatter", "", 1);
            json!({"batchId": batch, "scatterNodeId": node_id, "workerNodeIds": worker_ids})
        },
    );
    ops.push(ContextOp::set(format!("{node_id}_currentIndex"), json!(total)));
    ops.push(ContextOp::set(format!("{gather}_hasMore"), json!(false)));
    ops.push(ContextOp::set(
        all_worker_ids_key(gather),
        Value::Array(worker_ids),
    ));
    let workers = (0..total.min(chunk_size))
        .map(|index| DynamicNode {
            index,
            ..template.clone()
        })
        .collect();
    Ok(NodeStep::Completed(Completion {
        output: Some(json!({"gatherNodeId": gather, "hasMore": false})),
        action: None,
        ops,
        workers,
        finished: None,
    }))
}

pub fn gather(call: &BuiltinCall<'_>) -> NodeStep {
    let gather_id = call.node.param_str("gatherNodeId").unwrap_or(&call.node.id);
    let results: Vec<Value> = call
        .context
        .get(&all_worker_ids_key(gather_id))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|id| call.context.get(&outputs_key(id)).cloned())
        .collect();
    call.core.emit(
        EventKind::BatchFinish,
        &call.job.run_id,
        call.plan.id(),
        Some(&call.node.id),
        None,
        || {
            let batch = gather_id.replacen("_gather", "", 1);
            json!({"batchId": batch, "gatherNodeId": gather_id, "results": results})
        },
    );
    let mut ops = Vec::new();
    // Without outputKey HEAD writes the node id; a bare node-id key is
    // exactly what T1 forbids, so only an explicit key is written.
    if let Some(key) = call.node.param_str("outputKey") {
        ops.push(ContextOp::set(key, Value::Array(results.clone())));
    }
    NodeStep::Completed(Completion {
        output: Some(Value::Array(results)),
        ops,
        ..Completion::default()
    })
}
