//! Engine rules exercised end to end on the memory backends, beyond the
//! conformance cases: failure paths, redelivery, concurrency, shutdown,
//! chunked batches, subflow failures, scheduled runs, API errors.

mod api_errors;
mod batches_and_subflows;
mod failures;
mod forged_jobs;
mod gives_up;
mod join_claims;
mod limits;
mod lost_transaction;
mod reconcile;
mod run_ids;
mod run_state;
mod workers;
mod writes_on_their_way;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::watch;

use crate::engine::events::EventKind;
use crate::engine::run::{RunResult, StartOptions};
use crate::engine::traits::{BackendError, BackendResult, BoxFuture, ContextOp, ContextStore, WriteStamp};
use crate::engine::{Engine, EngineBackends, EngineConfig, WorkflowBlueprint};
use crate::memory::conformance::registry::TestRegistry;
use crate::memory::MemoryBackend;

pub fn blueprint(value: Value) -> WorkflowBlueprint {
    serde_json::from_value(value).expect("blueprint JSON")
}

pub fn started(blueprints: Vec<Value>, config: EngineConfig) -> (Engine, MemoryBackend) {
    let backend = MemoryBackend::new();
    let engine = Engine::new(
        blueprints.into_iter().map(blueprint).collect(),
        Arc::new(TestRegistry::default()),
        backend.backends(),
        config,
    )
    .expect("valid blueprints");
    engine.start().expect("worker starts");
    (engine, backend)
}

pub async fn run_to_result(engine: &Engine, blueprint_id: &str, context: Value) -> RunResult {
    let initial: Map<String, Value> = context.as_object().cloned().unwrap_or_default();
    let timeout = Some(Duration::from_secs(10));
    engine
        .run(blueprint_id, initial, StartOptions::default(), timeout)
        .await
        .expect("run publishes a result")
}

/// node:start events per node id of the run.
pub fn starts(backend: &MemoryBackend, run_id: &str, node_id: &str) -> usize {
    backend
        .events
        .of_kind_in_run(EventKind::NodeStart, run_id)
        .iter()
        .filter(|e| e.node_id.as_deref() == Some(node_id))
        .count()
}

pub async fn settle_down(engine: &Engine, backend: &MemoryBackend) {
    for _ in 0..2000 {
        if backend.is_idle() && engine.in_flight() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// s -> (a, b) -> j, j an `'all'` join (blueprint `diamond`; a emits 2, b emits 3), on
/// `backends`, handling jobs only when told to (not started).
pub fn diamond_engine(backends: EngineBackends) -> Engine {
    let diamond = json!({
        "id": "diamond",
        "nodes": [
            {"id": "s", "uses": "emit", "params": {"value": 1}},
            {"id": "a", "uses": "emit", "params": {"value": 2}},
            {"id": "b", "uses": "emit", "params": {"value": 3}},
            {"id": "j", "uses": "capture"}
        ],
        "edges": [
            {"source": "s", "target": "a"}, {"source": "s", "target": "b"},
            {"source": "a", "target": "j"}, {"source": "b", "target": "j"}
        ]
    });
    sequential_engine(diamond, backends)
}

/// An engine of one blueprint on `backends`, one job at a time, handling jobs only when
/// told to (not started).
pub fn sequential_engine(blueprint_json: Value, backends: EngineBackends) -> Engine {
    Engine::new(
        vec![blueprint(blueprint_json)],
        Arc::new(TestRegistry::default()),
        backends,
        EngineConfig::sequential(),
    )
    .unwrap()
}

/// The memory context store with writes a test controls: those that write `key` (every
/// write when None) fail, once, while `fail` is set, are refused for good (a permanent
/// error, every time) while `refuse` is set, and wait while `open` is false.
pub struct ControlledWrites {
    inner: Arc<dyn ContextStore>,
    key: Option<&'static str>,
    pub fail: AtomicBool,
    pub refuse: AtomicBool,
    pub open: watch::Sender<bool>,
}

impl ControlledWrites {
    pub fn new(inner: Arc<dyn ContextStore>, key: Option<&'static str>) -> Arc<Self> {
        Arc::new(ControlledWrites {
            inner,
            key,
            fail: AtomicBool::new(false),
            refuse: AtomicBool::new(false),
            open: watch::channel(true).0,
        })
    }

    fn controls(&self, ops: &[ContextOp]) -> bool {
        self.key.is_none_or(|key| ops.iter().any(|op| op.key() == key))
    }
}

impl ContextStore for ControlledWrites {
    fn load<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<Map<String, Value>>> {
        self.inner.load(run_id)
    }
    fn apply<'a>(
        &'a self,
        run_id: &'a str,
        ops: Vec<ContextOp>,
        stamp: WriteStamp,
    ) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            if self.controls(&ops) {
                if self.fail.swap(false, Ordering::SeqCst) {
                    return Err(BackendError::new("apply context", "store unavailable"));
                }
                if self.refuse.load(Ordering::SeqCst) {
                    return Err(BackendError::permanent(
                        "apply context",
                        "the store refuses this write",
                    ));
                }
                let _ = self.open.subscribe().wait_for(|open| *open).await;
            }
            self.inner.apply(run_id, ops, stamp).await
        })
    }
    fn get<'a>(&'a self, run_id: &'a str, key: &'a str) -> BoxFuture<'a, BackendResult<Option<Value>>> {
        self.inner.get(run_id, key)
    }
}
