//! `status_data` JSON in the reference's shape (flowcraft-semantics §5.6), so
//! JS clients that poll the status table keep working:
//!
//! ```json
//! {"status":"completed","payload":{"context":{...},"status":"completed"},"publishedAt":1700000000000}
//! {"status":"failed","reason":"...","failedNode":{"nodeId":"charge","fatal":false},"publishedAt":1700000000000}
//! {"status":"awaiting","publishedAt":1700000000000}
//! ```
//!
//! `serializedContext` is left out on purpose: it stored the context a
//! second time (K11). `publishedAt` is ours; the reference ignores them.

use serde_json::{json, Map, Value};

use crate::engine::run::{PublishedResult, RunStatus};

pub fn encode(result: &PublishedResult) -> String {
    let mut data = Map::new();
    data.insert("status".into(), json!(result.status.as_str()));
    if let Some(reason) = &result.reason {
        data.insert("reason".into(), json!(reason));
    }
    if let Some(node) = &result.failed_node {
        data.insert("failedNode".into(), json!(node));
    }
    if let Some(context) = &result.context {
        data.insert(
            "payload".into(),
            json!({"context": context, "status": result.status.as_str()}),
        );
    }
    data.insert("publishedAt".into(), json!(result.published_at_ms));
    Value::Object(data).to_string()
}

/// The entry kept in the `published` list: the result without its context,
/// which lives once, in `status_data` (a run has one `completed` at most).
pub fn encode_entry(result: &PublishedResult) -> String {
    encode(&PublishedResult {
        context: None,
        ..result.clone()
    })
}

pub fn decode(text: &str) -> Result<PublishedResult, String> {
    let data: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let status = match data.get("status").and_then(Value::as_str) {
        Some(text) => RunStatus::parse(text).ok_or_else(|| format!("unknown status {text:?}"))?,
        None => return Err("no status".into()),
    };
    let context = data
        .get("payload")
        .and_then(|payload| payload.get("context"))
        .or_else(|| data.get("context"))
        .and_then(Value::as_object)
        .cloned();
    Ok(PublishedResult {
        status,
        reason: data.get("reason").and_then(Value::as_str).map(str::to_string),
        failed_node: data
            .get("failedNode")
            .and_then(|node| serde_json::from_value(node.clone()).ok()),
        context,
        published_at_ms: data.get("publishedAt").and_then(Value::as_u64).unwrap_or(0),
    })
}

pub fn parse_status(text: Option<&str>) -> Result<RunStatus, String> {
    match text {
        None => Ok(RunStatus::Running),
        Some(text) => RunStatus::parse(text).ok_or_else(|| format!("unknown status {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_keeps_the_reference_shape_and_round_trips() {
        let mut context = Map::new();
        context.insert("final_output".into(), json!(42));
        let result = PublishedResult {
            status: RunStatus::Completed,
            failed_node: None,
            reason: None,
            context: Some(context),
            published_at_ms: 7,
        };
        let text = encode(&result);
        let data: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(data["payload"]["context"]["final_output"], json!(42));
        assert_eq!(data["payload"]["status"], json!("completed"));
        assert_eq!(decode(&text).unwrap(), result);
        assert!(decode(&encode_entry(&result)).unwrap().context.is_none());
    }

    #[test]
    fn failed_carries_its_reason_and_failed_node_and_no_payload() {
        let result = PublishedResult {
            status: RunStatus::Failed,
            failed_node: Some(crate::engine::run::FailedNode {
                node_id: "charge".into(),
                fatal: true,
            }),
            reason: Some("boom".into()),
            context: None,
            published_at_ms: 1,
        };
        let text = encode(&result);
        assert!(!text.contains("payload"));
        assert!(text.contains(r#""failedNode":{"nodeId":"charge","fatal":true}"#));
        assert_eq!(decode(&text).unwrap(), result);
        assert!(decode("{\"status\":\"stalled\"}").is_err());
        assert_eq!(
            decode("{\"status\":\"cancelled\"}").unwrap().status,
            RunStatus::Cancelled
        );
    }
}
