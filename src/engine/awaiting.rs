//! Which nodes of a run wait for a resume (T5), as FlowRuntime shows them:
//! `_awaitingNodeIds` (in the order they began waiting) and `_awaitingDetails`.
//!
//! Parallel branches can begin waiting at the same moment, each from its own copy of
//! the context, and a resume can run while other branches still go on: so no writer
//! ever rewrites a list shared by several nodes. Each waiting node has its own marker
//! (`_awaiting.<nodeId>`: what it waits for, and since when); a resume deletes the
//! markers of the nodes it resumes. FlowRuntime's two keys are built from the markers
//! where a context is shown (`present`). Lists written by others (the reference
//! adapter's rows) are still read.

use serde_json::{json, Map, Value};

use crate::engine::traits::ContextOp;

pub const AWAITING_NODE_IDS: &str = "_awaitingNodeIds";
pub const AWAITING_DETAILS: &str = "_awaitingDetails";
const MARKER_PREFIX: &str = "_awaiting.";

fn marker_key(node_id: &str) -> String {
    format!("{MARKER_PREFIX}{node_id}")
}

/// The op that marks `node_id` as waiting since `since_ms`, with what it waits for.
pub fn mark(node_id: &str, details: Value, since_ms: u64) -> ContextOp {
    ContextOp::set(
        marker_key(node_id),
        json!({"details": details, "since": since_ms}),
    )
}

fn listed(context: &Map<String, Value>) -> impl Iterator<Item = &str> {
    context
        .get(AWAITING_NODE_IDS)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// The markers, oldest first (ties by node id): the order the nodes began waiting,
/// whatever order the store returns keys in.
fn markers(context: &Map<String, Value>) -> Vec<(&str, &Value)> {
    let mut markers: Vec<(&str, &Value)> = context
        .iter()
        .filter_map(|(key, value)| Some((key.strip_prefix(MARKER_PREFIX)?, value)))
        .collect();
    let since = |marker: &Value| marker.get("since").and_then(Value::as_u64).unwrap_or(0);
    markers.sort_by(|(a, ma), (b, mb)| since(ma).cmp(&since(mb)).then(a.cmp(b)));
    markers
}

/// Every waiting node: a list written by others first, then the markers.
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
    match context.get(&marker_key(node_id)) {
        Some(marker) => marker.get("details"),
        None => context.get(AWAITING_DETAILS)?.get(node_id),
    }
}

/// The writes a resume of `resumed` makes: their markers deleted, and a list written by
/// others rewritten without them (nothing else: other nodes may be marking themselves).
pub fn without(context: &Map<String, Value>, resumed: &[String]) -> Vec<ContextOp> {
    let mut ops: Vec<ContextOp> = resumed
        .iter()
        .filter(|id| context.contains_key(&marker_key(id)))
        .map(|id| ContextOp::delete(marker_key(id)))
        .collect();
    if !listed(context).any(|id| resumed.iter().any(|r| r == id)) {
        return ops;
    }
    let left: Vec<&str> = listed(context)
        .filter(|id| !resumed.iter().any(|r| r == id))
        .collect();
    if left.is_empty() {
        ops.push(ContextOp::delete(AWAITING_NODE_IDS));
        ops.push(ContextOp::delete(AWAITING_DETAILS));
        return ops;
    }
    let mut kept = context
        .get(AWAITING_DETAILS)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    kept.retain(|id, _| left.contains(&id.as_str()));
    ops.push(ContextOp::set(AWAITING_NODE_IDS, json!(left)));
    ops.push(ContextOp::set(AWAITING_DETAILS, Value::Object(kept)));
    ops
}

/// The context as FlowRuntime shows it: the markers replaced by `_awaitingNodeIds` and
/// `_awaitingDetails` (absent when nothing waits).
pub fn present(context: &mut Map<String, Value>) {
    let ids = waiting(context);
    if ids.is_empty() {
        return;
    }
    let details: Map<String, Value> = ids
        .iter()
        .map(|id| (id.clone(), details(context, id).cloned().unwrap_or(Value::Null)))
        .collect();
    context.retain(|key, _| !key.starts_with(MARKER_PREFIX));
    context.insert(AWAITING_NODE_IDS.into(), json!(ids));
    context.insert(AWAITING_DETAILS.into(), Value::Object(details));
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

    fn event() -> Value {
        json!({"reason": "external_event"})
    }

    #[test]
    fn branches_marked_from_the_same_copy_are_all_shown_in_the_order_they_began() {
        // Written in another order than they began: the store may return keys sorted.
        let marked = applied(
            Map::new(),
            vec![
                mark("b", event(), 20),
                mark("c", event(), 20),
                mark("a", event(), 30),
            ],
        );
        assert_eq!(waiting(&marked), ["b", "c", "a"]);
        let mut shown = marked.clone();
        present(&mut shown);
        assert_eq!(shown.get(AWAITING_NODE_IDS), Some(&json!(["b", "c", "a"])));
        assert_eq!(shown[AWAITING_DETAILS]["a"], event());
        assert!(shown.keys().all(|key| !key.starts_with(MARKER_PREFIX)));
    }

    #[test]
    fn a_resume_deletes_only_the_resumed_markers() {
        let context = applied(Map::new(), vec![mark("a", event(), 1), mark("b", event(), 2)]);
        let ops = without(&context, &["a".to_string()]);
        assert_eq!(ops, vec![ContextOp::delete("_awaiting.a")]);
        // A node marking itself meanwhile is kept.
        let after = applied(context, [ops, vec![mark("c", event(), 3)]].concat());
        assert_eq!(waiting(&after), ["b", "c"]);
        let mut nothing = applied(after.clone(), without(&after, &waiting(&after)));
        assert!(waiting(&nothing).is_empty());
        present(&mut nothing);
        assert!(!nothing.contains_key(AWAITING_NODE_IDS));
    }

    #[test]
    fn a_list_written_by_others_is_read_and_kept_up_to_date() {
        let subflow = json!({"reason": "subflow", "childRunId": "c1"});
        let context = applied(
            Map::new(),
            vec![
                ContextOp::set(AWAITING_NODE_IDS, json!(["b", "x"])),
                ContextOp::set(AWAITING_DETAILS, json!({"b": subflow, "x": event()})),
                mark("a", event(), 5),
            ],
        );
        assert_eq!(waiting(&context), ["b", "x", "a"]);
        assert_eq!(details(&context, "b"), Some(&subflow));
        let after = applied(context.clone(), without(&context, &["b".to_string()]));
        assert_eq!(after.get(AWAITING_NODE_IDS), Some(&json!(["x"])));
        assert_eq!(after.get(AWAITING_DETAILS), Some(&json!({"x": event()})));
        assert_eq!(waiting(&after), ["x", "a"]);
    }
}
