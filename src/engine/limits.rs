//! Input limits checked where input enters, so nothing too big or too deep reaches a
//! backend and fails there, late and retried. Every limit is documented in the README.

use serde_json::{Map, Value};

/// Longest run id, in bytes of UTF-8. Run ids are Kafka keys, Cassandra partition keys and
/// parts of Redis keys; far below each one's own limit.
pub const MAX_RUN_ID_BYTES: usize = 256;

/// Longest run id a job may carry: a subflow's child run extends its parent's id with the
/// node and job ids, so nested children outgrow `MAX_RUN_ID_BYTES`. Far below Cassandra's
/// 64 KiB partition key limit.
pub const MAX_JOB_RUN_ID_BYTES: usize = 16 * 1024;

/// Deepest nesting of a value written to a run (initial context values, node outputs,
/// context writes, resume outputs): 1 for a scalar, 2 for `[1]`, and so on. Stored documents
/// wrap values in a few levels of their own, and every reader allows 128 in all.
pub const MAX_VALUE_DEPTH: usize = 100;

/// Largest value written to a run, in bytes of JSON. A node's output is stored under its
/// own key and copied to each followed edge, in one Cassandra write that must stay below
/// the mutation limit (half of a 32 MiB commit log segment by default).
pub const MAX_VALUE_BYTES: usize = 4 * 1024 * 1024;

/// Largest write of one job or start (every value it sets together), in bytes of JSON.
pub const MAX_WRITE_BYTES: usize = 12 * 1024 * 1024;

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
    measure(value).depth
}

/// What one walk over a value learns: its depth, and a bound its JSON never exceeds.
struct Measure {
    depth: usize,
    bytes_at_most: usize,
}

/// Bytes a JSON number can take at most (`-1.2345678901234567e-308`).
const NUMBER_BYTES_AT_MOST: usize = 24;

/// Bytes a string can take in JSON at most: quotes, and six per escaped byte (`\u0000`).
fn string_bytes_at_most(text: &str) -> usize {
    text.len().saturating_mul(6).saturating_add(2)
}

fn measure(value: &Value) -> Measure {
    let mut measure = Measure {
        depth: 0,
        bytes_at_most: 0,
    };
    let mut pending = vec![(value, 1usize)];
    while let Some((value, depth)) = pending.pop() {
        measure.depth = measure.depth.max(depth);
        let own = match value {
            Value::Null | Value::Bool(_) => 5,
            Value::Number(_) => NUMBER_BYTES_AT_MOST,
            Value::String(text) => string_bytes_at_most(text),
            Value::Array(items) => {
                pending.extend(items.iter().map(|v| (v, depth + 1)));
                2 + items.len()
            }
            Value::Object(map) => {
                pending.extend(map.values().map(|v| (v, depth + 1)));
                let keys: usize = map.keys().map(|key| string_bytes_at_most(key) + 2).sum();
                2 + keys
            }
        };
        measure.bytes_at_most = measure.bytes_at_most.saturating_add(own);
    }
    measure
}

/// The exact length of `value` as JSON, without building the text.
pub fn json_bytes(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing to a counter cannot fail; a value too deep for serde is caught by depth first.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// The length of `value` as JSON when it may be over `limit` (else `None`): the exact
/// count is only taken when the cheap bound says it might matter.
fn bytes_if_over(value: &Value, bytes_at_most: usize, limit: usize) -> Option<usize> {
    if bytes_at_most <= limit {
        return None;
    }
    let bytes = json_bytes(value);
    (bytes > limit).then_some(bytes)
}

/// Why `value` (named `what` in the message, only formatted when needed) cannot be
/// written, if it cannot.
pub fn value_problem(what: impl std::fmt::Display, value: &Value) -> Option<String> {
    let measure = measure(value);
    if measure.depth > MAX_VALUE_DEPTH {
        return Some(too_deep(what, measure.depth));
    }
    bytes_if_over(value, measure.bytes_at_most, MAX_VALUE_BYTES).map(|bytes| {
        format!("{what} is {bytes} bytes of JSON; at most {MAX_VALUE_BYTES} are stored per value")
    })
}

/// Why `value` (named `what`) nests too deep to be written, if it does; its size aside.
pub fn depth_problem(what: impl std::fmt::Display, value: &Value) -> Option<String> {
    let depth = value_depth(value);
    (depth > MAX_VALUE_DEPTH).then(|| too_deep(what, depth))
}

fn too_deep(what: impl std::fmt::Display, depth: usize) -> String {
    format!("{what} nests {depth} levels deep; at most {MAX_VALUE_DEPTH} are stored")
}

/// Why values written together (named `what`) cannot be, if their sum is over the limit
/// of one write. Each value is counted as often as it is written (`copies`).
pub fn write_problem<'a, I>(what: impl std::fmt::Display, values: I) -> Option<String>
where
    I: IntoIterator<Item = (&'a Value, usize)>,
    I::IntoIter: Clone,
{
    let values = values.into_iter();
    let at_most = values
        .clone()
        .map(|(value, copies)| measure(value).bytes_at_most.saturating_mul(copies))
        .fold(0, usize::saturating_add);
    if at_most <= MAX_WRITE_BYTES {
        return None;
    }
    let bytes: usize = values.map(|(value, copies)| json_bytes(value) * copies).sum();
    (bytes > MAX_WRITE_BYTES).then(|| {
        format!("{what} come to {bytes} bytes of JSON; at most {MAX_WRITE_BYTES} are stored in one write")
    })
}

/// The first value of `context` that cannot be written, described.
pub fn context_problem(what: &str, context: &Map<String, Value>) -> Option<String> {
    context
        .iter()
        .find_map(|(key, value)| value_problem(format_args!("{what} key '{key}'"), value))
        .or_else(|| write_problem(format_args!("{what} values"), context.values().map(|v| (v, 1))))
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

    #[test]
    fn size_counts_json_bytes_exactly_at_the_limit() {
        // A string's JSON is its bytes and two quotes.
        let just_fits = json!("x".repeat(MAX_VALUE_BYTES - 2));
        assert_eq!(json_bytes(&just_fits), MAX_VALUE_BYTES);
        assert!(value_problem("output", &just_fits).is_none());
        let over = value_problem("output", &json!("x".repeat(MAX_VALUE_BYTES - 1))).unwrap();
        assert!(over.contains(&format!("{} bytes", MAX_VALUE_BYTES + 1)), "{over}");
        // Escapes count as written: 700,000 NULs are 4.2 MB of `\u0000`.
        let escaped = value_problem("output", &json!("\u{0}".repeat(700_000))).unwrap();
        assert!(escaped.contains("4200002 bytes"), "{escaped}");
    }

    #[test]
    fn the_cheap_bound_never_undercounts() {
        let values = [
            json!(null),
            json!(-1.2345678901234567e-308),
            json!(u64::MAX),
            json!("quote \" back \\ nul \u{0} é 😀"),
            json!({"k\"ey": [1, true, {"x": []}], "": {}}),
        ];
        for value in values {
            assert!(measure(&value).bytes_at_most >= json_bytes(&value), "{value}");
        }
    }

    #[test]
    fn a_write_counts_every_value_and_copy() {
        let three_mib = json!("x".repeat(3 * 1024 * 1024));
        assert!(write_problem("writes", [(&three_mib, 2), (&three_mib, 1)]).is_none());
        let over = write_problem("writes", [(&three_mib, 2), (&three_mib, 2)]).unwrap();
        assert!(over.contains("come to"), "{over}");
    }
}
