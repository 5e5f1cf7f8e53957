//! What `node_runtime.js` reports for one call, and its translation into engine types.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::engine::invoker::{NodeFailure, NodeReturn};
use crate::engine::limits::MAX_VALUE_DEPTH;
use crate::engine::traits::ContextOp;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsOutcome {
    ok: bool,
    // `null` is an output; only an absent field means "no output".
    #[serde(default, deserialize_with = "present")]
    output: Option<Value>,
    action: Option<String>,
    #[serde(default)]
    ops: Vec<JsContextOp>,
    #[serde(default, deserialize_with = "present")]
    dynamic_nodes: Option<Value>,
    message: Option<String>,
    stack: Option<String>,
    #[serde(default)]
    fatal: bool,
    #[serde(default)]
    last: bool,
    #[serde(default, deserialize_with = "present")]
    prepared: Option<Value>,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum JsContextOp {
    Set {
        key: String,
        #[serde(default)]
        value: Value,
    },
    Delete {
        key: String,
    },
}

fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

pub fn parse_outcome(json: &str) -> Result<NodeReturn, NodeFailure> {
    let outcome: JsOutcome = serde_json::from_str(json).map_err(|e| {
        // serde_json stops at 128 levels, past the limit for stored values.
        if e.to_string().starts_with("recursion limit exceeded") {
            NodeFailure::new(format!(
                "the node's result nests more than {MAX_VALUE_DEPTH} levels deep; at most {MAX_VALUE_DEPTH} are stored"
            ))
        } else {
            NodeFailure::new(format!("internal: unreadable node result ({e})"))
        }
    })?;
    if !outcome.ok {
        return Err(NodeFailure {
            message: outcome.message.unwrap_or_else(|| "node failed".into()),
            stack: outcome.stack,
            fatal: outcome.fatal,
            last: outcome.last,
            prepared: outcome.prepared.map(Box::new),
        });
    }
    let dynamic_nodes = match outcome.dynamic_nodes {
        None | Some(Value::Null) => None,
        Some(Value::Array(nodes)) => Some(nodes),
        Some(_) => {
            return Err(NodeFailure::new(
                "dynamicNodes must be an array of node definitions",
            ))
        }
    };
    Ok(NodeReturn {
        output: outcome.output,
        action: outcome.action,
        context_ops: outcome
            .ops
            .into_iter()
            .map(|op| match op {
                JsContextOp::Set { key, value } => ContextOp::Set { key, value },
                JsContextOp::Delete { key } => ContextOp::Delete { key },
            })
            .collect(),
        dynamic_nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_says_whether_another_attempt_may_follow() {
        let plain = parse_outcome(r#"{"ok":false,"message":"broke"}"#).expect_err("failed");
        assert!(plain.retryable() && plain.prepared.is_none());
        let fatal = parse_outcome(r#"{"ok":false,"message":"m","fatal":true}"#).expect_err("failed");
        assert!(fatal.fatal && !fatal.retryable());
        let last = parse_outcome(r#"{"ok":false,"message":"m","last":true}"#).expect_err("failed");
        assert!(!last.fatal && !last.retryable());
        let prepared =
            parse_outcome(r#"{"ok":false,"message":"m","prepared":{"value":[1]}}"#).expect_err("failed");
        assert_eq!(
            prepared.prepared.as_deref(),
            Some(&serde_json::json!({"value": [1]}))
        );
    }

    #[test]
    fn a_result_too_deep_to_parse_names_the_limit() {
        let deep = format!(
            "{{\"ok\":true,\"output\":{}1{}}}",
            "[".repeat(200),
            "]".repeat(200)
        );
        let failure = parse_outcome(&deep).expect_err("refused");
        assert!(failure.message.contains("at most 100"), "{}", failure.message);
    }

    #[test]
    fn null_output_differs_from_no_output() {
        assert_eq!(
            parse_outcome(r#"{"ok":true,"output":null}"#).unwrap().output,
            Some(Value::Null)
        );
        assert_eq!(parse_outcome(r#"{"ok":true}"#).unwrap().output, None);
    }

    #[test]
    fn failures_keep_message_and_stack() {
        let failure =
            parse_outcome(r#"{"ok":false,"message":"boom","stack":"Error: boom\n at x"}"#).unwrap_err();
        assert_eq!(failure.message, "boom");
        assert!(failure.stack.unwrap().contains("at x"));
    }

    #[test]
    fn context_ops_keep_their_order() {
        let result = parse_outcome(
            r#"{"ok":true,"ops":[{"op":"set","key":"a","value":1},{"op":"delete","key":"a"}]}"#,
        )
        .unwrap();
        assert_eq!(
            result.context_ops,
            vec![
                ContextOp::Set {
                    key: "a".into(),
                    value: Value::from(1)
                },
                ContextOp::Delete { key: "a".into() }
            ]
        );
    }
}
