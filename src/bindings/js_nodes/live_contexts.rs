//! The contexts of JS node calls in progress, read by key from the JS thread. A large
//! context is not copied into every call (a batch worker's run holds every item: copying
//! it made a scatter quadratic); the node's `context.get(key)` asks for one value instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

/// Contexts with more keys than this are read by key; smaller ones travel with the call
/// (one JSON parse, no calls back).
pub const EAGER_CONTEXT_KEYS: usize = 16;

type Context = Arc<Map<String, Value>>;

#[derive(Clone, Default)]
pub struct LiveContexts {
    by_call: Arc<Mutex<HashMap<i64, Context>>>,
}

/// Keeps a call's context readable until the call is answered or given up.
pub struct LiveContext {
    contexts: LiveContexts,
    call_id: i64,
}

impl Drop for LiveContext {
    fn drop(&mut self) {
        if let Ok(mut by_call) = self.contexts.by_call.lock() {
            by_call.remove(&self.call_id);
        }
    }
}

impl LiveContexts {
    pub fn hold(&self, call_id: i64, context: Context) -> LiveContext {
        if let Ok(mut by_call) = self.by_call.lock() {
            by_call.insert(call_id, context);
        }
        LiveContext {
            contexts: self.clone(),
            call_id,
        }
    }

    /// The JSON of `key` in call `call_id`'s context; `None` when absent (or the call is over).
    pub fn value_json(&self, call_id: i64, key: &str) -> Option<String> {
        let context = self.context(call_id)?;
        context.get(key).map(Value::to_string)
    }

    /// The JSON of call `call_id`'s whole context (`toJSON()`), `None` when the call is over.
    pub fn all_json(&self, call_id: i64) -> Option<String> {
        self.context(call_id)
            .map(|context| Value::Object((*context).clone()).to_string())
    }

    fn context(&self, call_id: i64) -> Option<Context> {
        self.by_call.lock().ok()?.get(&call_id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_context_is_readable_while_held_and_gone_after() {
        let contexts = LiveContexts::default();
        let map: Map<String, Value> = json!({"a": {"n": 1}, "b": "x"}).as_object().cloned().unwrap();
        let held = contexts.hold(7, Arc::new(map));
        assert_eq!(contexts.value_json(7, "a").as_deref(), Some(r#"{"n":1}"#));
        assert_eq!(contexts.value_json(7, "missing"), None);
        assert_eq!(contexts.all_json(7).as_deref(), Some(r#"{"a":{"n":1},"b":"x"}"#));
        drop(held);
        assert_eq!(contexts.value_json(7, "a"), None);
        assert_eq!(contexts.all_json(7), None);
    }
}
