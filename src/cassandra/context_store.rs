//! The engine's `ContextStore` on the per-key context table.

use serde_json::{Map, Value};

use super::context_table::ContextTable;
use crate::engine::traits::{BackendResult, BoxFuture, ContextOp, ContextStore, WriteStamp};

impl ContextStore for ContextTable {
    fn load<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<Map<String, Value>>> {
        Box::pin(async move {
            ContextTable::load(self, run_id)
                .await
                .map_err(|e| e.into_backend("load context"))
        })
    }

    fn apply<'a>(
        &'a self,
        run_id: &'a str,
        ops: Vec<ContextOp>,
        stamp: WriteStamp,
    ) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            ContextTable::apply_stamped(self, run_id, ops, Some(stamp.0))
                .await
                .map_err(|e| e.into_backend("apply context ops"))
        })
    }

    fn get<'a>(&'a self, run_id: &'a str, key: &'a str) -> BoxFuture<'a, BackendResult<Option<Value>>> {
        Box::pin(async move {
            ContextTable::get(self, run_id, key)
                .await
                .map_err(|e| e.into_backend("get context key"))
        })
    }
}
