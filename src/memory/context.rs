//! Per-run flat context maps, each key with the stamp of the write that set it (or
//! deleted it), so a write replayed later never undoes a newer one (as Cassandra's
//! cell timestamps do).

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value};

use crate::engine::traits::{BackendError, BackendResult, BoxFuture, ContextOp, ContextStore, WriteStamp};

#[derive(Default)]
struct RunContext {
    values: Map<String, Value>,
    /// Every key ever written, deleted ones included.
    stamps: HashMap<String, WriteStamp>,
}

#[derive(Default)]
pub struct MemoryContextStore {
    runs: Mutex<HashMap<String, RunContext>>,
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
            Ok(runs.get(run_id).map(|run| run.values.clone()).unwrap_or_default())
        })
    }

    fn apply<'a>(
        &'a self,
        run_id: &'a str,
        ops: Vec<ContextOp>,
        stamp: WriteStamp,
    ) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            let mut runs = self.runs.lock().map_err(|_| poisoned("apply context ops"))?;
            let run = runs.entry(run_id.to_string()).or_default();
            for op in &ops {
                let newer = run.stamps.get(op.key()).is_some_and(|seen| *seen > stamp);
                if !newer {
                    op.apply_to(&mut run.values);
                    run.stamps.insert(op.key().to_string(), stamp);
                }
            }
            Ok(())
        })
    }

    fn get<'a>(&'a self, run_id: &'a str, key: &'a str) -> BoxFuture<'a, BackendResult<Option<Value>>> {
        Box::pin(async move {
            let runs = self.runs.lock().map_err(|_| poisoned("get context key"))?;
            Ok(runs.get(run_id).and_then(|run| run.values.get(key)).cloned())
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
        let ops = vec![ContextOp::set("a", json!(1)), ContextOp::set("b", json!(2))];
        store.apply("r1", ops, WriteStamp::next()).await.unwrap();
        store
            .apply("r1", vec![ContextOp::delete("a")], WriteStamp::next())
            .await
            .unwrap();
        assert_eq!(store.get("r1", "b").await.unwrap(), Some(json!(2)));
        assert_eq!(store.get("r1", "a").await.unwrap(), None);
        assert!(store.load("r2").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_replayed_write_never_undoes_a_newer_one() {
        let store = MemoryContextStore::new();
        let (first, second) = (WriteStamp::next(), WriteStamp::next());
        store
            .apply("r", vec![ContextOp::set("a", json!(1))], first)
            .await
            .unwrap();
        store
            .apply(
                "r",
                vec![ContextOp::set("a", json!(2)), ContextOp::delete("b")],
                second,
            )
            .await
            .unwrap();
        let replay = vec![ContextOp::set("a", json!(1)), ContextOp::set("b", json!(1))];
        store.apply("r", replay, first).await.unwrap();
        assert_eq!(store.get("r", "a").await.unwrap(), Some(json!(2)));
        assert_eq!(store.get("r", "b").await.unwrap(), None, "a newer delete stands");
        store
            .apply("r", vec![ContextOp::set("a", json!(3))], second)
            .await
            .unwrap();
        assert_eq!(
            store.get("r", "a").await.unwrap(),
            Some(json!(3)),
            "equal stamps apply in order"
        );
    }
}
