//! Per-run flat context maps.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value};

use crate::engine::traits::{BackendError, BackendResult, BoxFuture, ContextOp, ContextStore};

#[derive(Default)]
pub struct MemoryContextStore {
    runs: Mutex<HashMap<String, Map<String, Value>>>,
}

impl MemoryContextStore {
    pub fn new() -> Self {
        Self::default()
    }
}

fn poisoned(operation: &'static str) -> BackendError {
    BackendError::new(operation, "context lock poisoned")
}

impl ContextStore for MemoryContextStore {
    fn load<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<Map<String, Value>>> {
        Box::pin(async move {
            let runs = self.runs.lock().map_err(|_| poisoned("load context"))?;
            Ok(runs.get(run_id).cloned().unwrap_or_default())
        })
    }

    fn apply<'a>(&'a self, run_id: &'a str, ops: Vec<ContextOp>) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            let mut runs = self.runs.lock().map_err(|_| poisoned("apply context ops"))?;
            let context = runs.entry(run_id.to_string()).or_default();
            for op in &ops {
                op.apply_to(context);
            }
            Ok(())
        })
    }

    fn get<'a>(&'a self, run_id: &'a str, key: &'a str) -> BoxFuture<'a, BackendResult<Option<Value>>> {
        Box::pin(async move {
            let runs = self.runs.lock().map_err(|_| poisoned("get context key"))?;
            Ok(runs.get(run_id).and_then(|c| c.get(key)).cloned())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn applies_batches_per_run() {
        let store = MemoryContextStore::new();
        store
            .apply(
                "r1",
                vec![ContextOp::set("a", json!(1)), ContextOp::set("b", json!(2))],
            )
            .await
            .unwrap();
        store.apply("r1", vec![ContextOp::delete("a")]).await.unwrap();
        assert_eq!(store.get("r1", "b").await.unwrap(), Some(json!(2)));
        assert_eq!(store.get("r1", "a").await.unwrap(), None);
        assert!(store.load("r2").await.unwrap().is_empty());
    }
}
