//! Engine rules exercised end to end on the memory backends, beyond the
//! conformance cases: failure paths, redelivery, concurrency, shutdown,
//! chunked batches, subflow failures, scheduled runs, API errors.

mod api_errors;
mod batches_and_subflows;
mod failures;
mod join_claims;
mod lost_transaction;
mod reconcile;
mod run_ids;
mod run_state;
mod workers;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::engine::events::EventKind;
use crate::engine::run::{RunResult, StartOptions};
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
    Engine::new(
        vec![blueprint(diamond)],
        Arc::new(TestRegistry::default()),
        backends,
        EngineConfig::sequential(),
    )
    .unwrap()
}
