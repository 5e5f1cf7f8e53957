//! `loop-controller` (T3): evaluates `params.condition` on the context;
//! truthy continues the loop (action `continue`, no output), falsy leaves it
//! (action `break`, output `null`).

use serde_json::Value;

use crate::engine::builtins::BuiltinCall;
use crate::engine::evaluator::is_truthy;
use crate::engine::step::{Completion, NodeStep};

pub async fn execute(call: &BuiltinCall<'_>) -> NodeStep {
    let keep_going = match call.node.param_str("condition") {
        Some(condition) => {
            let scope = Value::Object(call.context.clone());
            let value = call.core.backends.evaluator.evaluate(condition, &scope).await;
            is_truthy(value.as_ref())
        }
        None => false,
    };
    let completion = if keep_going {
        Completion {
            action: Some("continue".into()),
            ..Completion::default()
        }
    } else {
        Completion {
            output: Some(Value::Null),
            action: Some("break".into()),
            ..Completion::default()
        }
    };
    NodeStep::Completed(completion)
}
