//! Input resolution (Flowcraft §2.5 with mirror HEAD's dotted paths, T13).

use serde_json::{Map, Value};

use crate::engine::blueprint::{NodeDefinition, NodeInputs};

/// The key every followed edge writes for its target.
pub fn inputs_key(node_id: &str) -> String {
    format!("_inputs.{node_id}")
}

/// The key a node's output is recorded under.
pub fn outputs_key(node_id: &str) -> String {
    format!("_outputs.{node_id}")
}

/// Whether `key` records a run's progress (a node finished, an edge followed): the
/// frontier is read from these, so a write split into parts stores them last.
pub fn records_progress(key: &str) -> bool {
    key.starts_with("_outputs.") || key.starts_with("_inputs.")
}

/// Resolves one `inputs` entry against the context.
pub fn resolve_input_value(source: &str, context: &Map<String, Value>) -> Option<Value> {
    if source.starts_with('_') {
        return context.get(source).cloned();
    }
    if let Some((base, path)) = source.split_once('.') {
        // A path into the output of the node named by the first segment; a
        // flat dotted context key is not reachable (T13).
        let mut current = context.get(&outputs_key(base)).filter(|v| !v.is_null())?;
        for segment in path.split('.') {
            current = match current {
                Value::Object(map) => map.get(segment)?,
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
            if current.is_null() {
                return Some(Value::Null);
            }
        }
        return Some(current.clone());
    }
    match context.get(&outputs_key(source)) {
        Some(v) => Some(v.clone()),
        None => context.get(source).cloned(),
    }
}

/// A node's input. `inputs_rewritten` is true once an edge with a transform
/// delivered into this node during the run (Flowcraft's within-run rewrite
/// of `inputs` to `_inputs.<id>`, T12).
pub fn resolve_node_input(
    node: &NodeDefinition,
    context: &Map<String, Value>,
    inputs_rewritten: bool,
) -> Option<Value> {
    if inputs_rewritten {
        return context.get(&inputs_key(&node.id)).cloned();
    }
    match node.explicit_inputs() {
        Some(NodeInputs::Key(source)) => resolve_input_value(source, context),
        Some(NodeInputs::Map(entries)) => {
            let mut resolved = Map::new();
            for (name, source) in entries {
                // An undefined entry is a missing key in JSON.
                if let Some(value) = source.as_str().and_then(|s| resolve_input_value(s, context)) {
                    resolved.insert(name.clone(), value);
                }
            }
            Some(Value::Object(resolved))
        }
        None => context.get(&inputs_key(&node.id)).cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn string_sources() {
        let c = ctx(json!({
            "_outputs.load": {"user": {"name": "Ada"}},
            "region": "eu",
            "_tenant": "acme",
            "load.user.name": "flat"
        }));
        assert_eq!(resolve_input_value("region", &c), Some(json!("eu")));
        assert_eq!(resolve_input_value("_tenant", &c), Some(json!("acme")));
        assert_eq!(
            resolve_input_value("load", &c),
            Some(json!({"user": {"name": "Ada"}}))
        );
        assert_eq!(resolve_input_value("load.user.name", &c), Some(json!("Ada")));
        assert_eq!(resolve_input_value("load.user.age", &c), None);
        assert_eq!(resolve_input_value("other.x", &c), None);
    }

    #[test]
    fn node_inputs_object_and_default() {
        let c = ctx(json!({"_outputs.a": 1, "_inputs.n": 5, "r": "eu"}));
        let with_map: NodeDefinition = serde_json::from_value(json!({
            "id": "n", "uses": "x", "inputs": {"first": "a", "region": "r", "gone": "zzz"}
        }))
        .unwrap();
        assert_eq!(
            resolve_node_input(&with_map, &c, false),
            Some(json!({"first": 1, "region": "eu"}))
        );
        assert_eq!(resolve_node_input(&with_map, &c, true), Some(json!(5)));
        let plain: NodeDefinition = serde_json::from_value(json!({"id": "n", "uses": "x"})).unwrap();
        assert_eq!(resolve_node_input(&plain, &c, false), Some(json!(5)));
    }
}
