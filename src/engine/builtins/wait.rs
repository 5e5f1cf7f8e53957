//! `wait`: pauses the run until `resume_with_action` (T5). The node is
//! listed in `_awaitingNodeIds` / `_awaitingDetails`; nothing is routed.

use serde_json::{json, Map, Value};

use crate::engine::builtins::BuiltinCall;
use crate::engine::completion::{AWAITING_DETAILS, AWAITING_NODE_IDS};
use crate::engine::step::NodeStep;
use crate::engine::traits::ContextOp;

/// The ops that mark `node_id` as awaiting, given the current context.
pub fn mark_awaiting(context: &Map<String, Value>, node_id: &str, details: Value) -> Vec<ContextOp> {
    let mut ids: Vec<Value> = context
        .get(AWAITING_NODE_IDS)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !ids.iter().any(|id| id == node_id) {
        ids.push(json!(node_id));
    }
    let mut all_details = context
        .get(AWAITING_DETAILS)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    all_details.insert(node_id.to_string(), details);
    vec![
        ContextOp::set(AWAITING_NODE_IDS, Value::Array(ids)),
        ContextOp::set(AWAITING_DETAILS, Value::Object(all_details)),
    ]
}

pub fn execute(call: &BuiltinCall<'_>) -> NodeStep {
    NodeStep::Awaiting {
        ops: mark_awaiting(call.context, &call.node.id, json!({"reason": "external_event"})),
    }
}
