//! Which nodes of a run wait for a resume (T5), as FlowRuntime shows them:
//! `_awaitingNodeIds` (in the order they began waiting) and `_awaitingDetails`.
//!
//! Parallel branches can begin waiting at the same moment, each from its own copy of
//! the context, so a node never rewrites those two shared keys: it writes its own
//! marker (`_awaiting.<nodeId>`), and `settle`, which runs once nothing of the run is
//! left running, folds the markers into the list. Readers see both forms.

use serde_json::{json, Map, Value};

use crate::engine::traits::ContextOp;

pub const AWAITING_NODE_IDS: &str = "_awaitingNodeIds";
pub const AWAITING_DETAILS: &str = "_awaitingDetails";
const MARKER_PREFIX: &str = "_awaiting.";

fn marker_key(node_id: &str) -> String {
    format!("{MARKER_PREFIX}{node_id}")
}

/// The op that marks `node_id` as waiting, with what it waits for.
pub fn mark(node_id: &str, details: Value) -> ContextOp {
    ContextOp::set(marker_key(node_id), details)
}

fn listed(context: &Map<String, Value>) -> impl Iterator<Item = &str> {
    context
        .get(AWAITING_NODE_IDS)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn markers(context: &Map<String, Value>) -> impl Iterator<Item = (&str, &Value)> {
    context
        .iter()
        .filter_map(|(key, value)| Some((key.strip_prefix(MARKER_PREFIX)?, value)))
}

/// Every waiting node: the folded list first, then markers not folded yet.
pub fn waiting(context: &Map<String, Value>) -> Vec<String> {
    let mut ids: Vec<String> = listed(context).map(str::to_string).collect();
    for (id, _) in markers(context) {
        if !ids.iter().any(|listed| listed == id) {
            ids.push(id.to_string());
        }
    }
    ids
}

/// What `node_id` waits for, if it waits.
pub fn details<'a>(context: &'a Map<String, Value>, node_id: &str) -> Option<&'a Value> {
    context
        .get(&marker_key(node_id))
        .or_else(|| context.get(AWAITING_DETAILS)?.get(node_id))
}

/// The writes that fold the markers into `_awaitingNodeIds` / `_awaitingDetails`
/// (nothing when there are none).
pub fn fold(context: &Map<String, Value>) -> Vec<ContextOp> {
    if markers(context).next().is_none() {
        return Vec::new();
    }
    without(context, &[])
}

/// The writes that leave every waiting node but `resumed` listed (the keys gone when
/// nothing waits), with no markers left.
pub fn without(context: &Map<String, Value>, resumed: &[String]) -> Vec<ContextOp> {
    let left: Vec<String> = waiting(context)
        .into_iter()
        .filter(|id| !resumed.contains(id))
        .collect();
    let mut ops: Vec<ContextOp> = markers(context)
        .map(|(id, _)| ContextOp::delete(marker_key(id)))
        .collect();
    if left.is_empty() {
        ops.push(ContextOp::delete(AWAITING_NODE_IDS));
        ops.push(ContextOp::delete(AWAITING_DETAILS));
        return ops;
    }
    let details: Map<String, Value> = left
        .iter()
        .map(|id| (id.clone(), details(context, id).cloned().unwrap_or(Value::Null)))
        .collect();
    ops.push(ContextOp::set(AWAITING_NODE_IDS, json!(left)));
    ops.push(ContextOp::set(AWAITING_DETAILS, Value::Object(details)));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(mut context: Map<String, Value>, ops: Vec<ContextOp>) -> Map<String, Value> {
        for op in ops {
            match op {
                ContextOp::Set { key, value } => {
                    context.insert(key, value);
                }
                ContextOp::Delete { key } => {
                    context.remove(&key);
                }
            }
        }
        context
    }

    #[test]
    fn two_branches_marked_from_the_same_copy_are_both_listed() {
        let before = Map::new();
        let both = vec![
            mark("left", json!({"reason": "external_event"})),
            mark("right", json!({"reason": "external_event"})),
        ];
        let marked = applied(before, both);
        assert_eq!(waiting(&marked), ["left", "right"]);
        let folded = applied(marked.clone(), fold(&marked));
        assert_eq!(folded.get(AWAITING_NODE_IDS), Some(&json!(["left", "right"])));
        assert_eq!(
            folded.get(AWAITING_DETAILS),
            Some(&json!({"left": {"reason": "external_event"}, "right": {"reason": "external_event"}}))
        );
        assert!(folded.keys().all(|key| !key.starts_with(MARKER_PREFIX)));
        assert!(fold(&folded).is_empty());
    }

    #[test]
    fn a_later_marker_goes_after_the_listed_nodes() {
        let context = applied(
            Map::new(),
            vec![
                ContextOp::set(AWAITING_NODE_IDS, json!(["b"])),
                ContextOp::set(
                    AWAITING_DETAILS,
                    json!({"b": {"reason": "subflow", "childRunId": "c1"}}),
                ),
                mark("a", json!({"reason": "external_event"})),
            ],
        );
        assert_eq!(waiting(&context), ["b", "a"]);
        assert_eq!(
            details(&context, "b"),
            Some(&json!({"reason": "subflow", "childRunId": "c1"}))
        );
        let after = applied(context.clone(), without(&context, &["b".to_string()]));
        assert_eq!(after.get(AWAITING_NODE_IDS), Some(&json!(["a"])));
        assert_eq!(waiting(&after), ["a"]);
        let none = applied(after.clone(), without(&after, &["a".to_string()]));
        assert!(none.is_empty());
    }
}
