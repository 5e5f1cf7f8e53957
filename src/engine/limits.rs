//! Input limits checked where input enters, so nothing too big or too deep reaches a
//! backend and fails there, late and retried. Every limit is documented in the README.

use serde_json::{Map, Value};

/// Longest run id, in bytes of UTF-8. Run ids are Kafka keys, Cassandra partition keys and
/// parts of Redis keys; far below each one's own limit.
pub const MAX_RUN_ID_BYTES: usize = 256;

/// Deepest nesting of a value written to a run (initial context values, node outputs,
/// context writes, resume outputs): 1 for a scalar, 2 for `[1]`, and so on. Stored documents
/// wrap values in a few levels of their own, and every reader allows 128 in all.
pub const MAX_VALUE_DEPTH: usize = 100;

/// Why `run_id` cannot name a run, if it cannot.
pub fn run_id_problem(run_id: &str) -> Option<String> {
    if run_id.is_empty() {
        return Some("a run id must not be empty".into());
    }
    if run_id.len() > MAX_RUN_ID_BYTES {
        return Some(format!(
            "a run id is at most {MAX_RUN_ID_BYTES} bytes, this one has {}",
            run_id.len()
        ));
    }
    if let Some((at, c)) = run_id.char_indices().find(|(_, c)| c.is_control()) {
        return Some(format!(
            "a run id must not contain control characters ({:?} at byte {at})",
            c
        ));
    }
    None
}

/// A run id shortened for messages: a refused id can be 64 KiB.
pub fn shown_run_id(run_id: &str) -> String {
    const SHOWN_CHARS: usize = 64;
    let mut shown: String = run_id.chars().take(SHOWN_CHARS).collect();
    if shown.len() < run_id.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

/// How deep `value` nests (a scalar is 1). Iterative: the value may be arbitrarily deep.
pub fn value_depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 1usize)];
    while let Some((value, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        match value {
            Value::Array(items) => pending.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(map) => pending.extend(map.values().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    deepest
}

/// Why `value` (named `what` in the message) cannot be written, if it cannot.
pub fn value_problem(what: &str, value: &Value) -> Option<String> {
    let depth = value_depth(value);
    (depth > MAX_VALUE_DEPTH)
        .then(|| format!("{what} nests {depth} levels deep; at most {MAX_VALUE_DEPTH} are stored"))
}

/// The first value of `context` that cannot be written, described.
pub fn context_problem(what: &str, context: &Map<String, Value>) -> Option<String> {
    context
        .iter()
        .find_map(|(key, value)| value_problem(&format!("{what} key '{key}'"), value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(depth: usize) -> Value {
        (1..depth).fold(json!(1), |inner, _| json!([inner]))
    }

    #[test]
    fn run_ids_are_checked_for_emptiness_length_and_control_characters() {
        assert!(run_id_problem("order-17:b/ü").is_none());
        assert!(run_id_problem(&"r".repeat(MAX_RUN_ID_BYTES)).is_none());
        assert!(run_id_problem("").unwrap().contains("empty"));
        let long = run_id_problem(&"r".repeat(MAX_RUN_ID_BYTES + 1)).unwrap();
        assert!(long.contains("257"), "{long}");
        let nul = run_id_problem("a\0b").unwrap();
        assert!(nul.contains("byte 1"), "{nul}");
        assert!(run_id_problem("line\nbreak").is_some());
    }

    #[test]
    fn shown_run_ids_are_short() {
        let shown = shown_run_id(&"x".repeat(70_000));
        assert!(shown.chars().count() < 70, "{shown}");
        assert_eq!(shown_run_id("a\0"), "\"a\\0\"");
    }

    #[test]
    fn depth_counts_levels_and_survives_very_deep_values() {
        assert_eq!(value_depth(&json!(1)), 1);
        assert_eq!(value_depth(&json!({"a": [1, {"b": 2}]})), 4);
        assert_eq!(value_depth(&nested(MAX_VALUE_DEPTH)), MAX_VALUE_DEPTH);
        assert!(value_problem("output", &nested(MAX_VALUE_DEPTH)).is_none());
        let deep = value_problem("output", &nested(MAX_VALUE_DEPTH + 1)).unwrap();
        assert!(deep.contains("101 levels"), "{deep}");
        // Dropping a very deep value recursively could overflow the stack; depth must not.
        let very_deep = nested(5_000);
        assert_eq!(value_depth(&very_deep), 5_000);
        std::mem::forget(very_deep);
    }
}
