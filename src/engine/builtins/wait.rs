//! `wait`: pauses the run until `resume_with_action` (T5). The node is
//! listed in `_awaitingNodeIds` / `_awaitingDetails` (see `awaiting`); nothing is routed.

use serde_json::json;

use crate::engine::awaiting;
use crate::engine::builtins::BuiltinCall;
use crate::engine::step::NodeStep;

pub fn execute(call: &BuiltinCall<'_>) -> NodeStep {
    NodeStep::Awaiting {
        ops: vec![awaiting::mark(
            &call.node.id,
            json!({"reason": "external_event"}),
            call.core.now_ms(),
        )],
    }
}
