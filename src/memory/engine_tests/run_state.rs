//! The owner's in-memory copy of a run (`engine::run_state`), exercised with a queue
//! that, like Kafka, hands every job of a run to one owner: the copy must never hide a
//! write made elsewhere.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{blueprint, settle_down};
use crate::engine::run::{RunStatus, StartOptions};
use crate::engine::traits::{
    BackendResult, BoxFuture, ContextStore, Delivery, DeliveryReceipt, JobDisposition, JobTransport,
};
use crate::engine::{Engine, EngineConfig, Job};
use crate::memory::conformance::registry::TestRegistry;
use crate::memory::{MemoryBackend, MemoryJobQueue};

/// The memory queue, consumed by one worker only: that worker owns every run.
struct OwnedQueue(Arc<MemoryJobQueue>);

impl JobTransport for OwnedQueue {
    fn enqueue<'a>(&'a self, jobs: Vec<Job>) -> BoxFuture<'a, BackendResult<()>> {
        self.0.enqueue(jobs)
    }
    fn receive<'a>(&'a self, max: usize) -> BoxFuture<'a, BackendResult<Vec<Delivery>>> {
        self.0.receive(max)
    }
    fn generation(&self) -> Option<u64> {
        Some(1)
    }
    fn acknowledge<'a>(
        &'a self,
        receipt: DeliveryReceipt,
        disposition: JobDisposition,
    ) -> BoxFuture<'a, BackendResult<()>> {
        self.0.acknowledge(receipt, disposition)
    }
}

/// A worker owning its runs, and a client (no worker) on the same stores and queue.
fn worker_and_client(blueprints: Vec<Value>) -> (Engine, Engine, MemoryBackend) {
    let backend = MemoryBackend::new();
    let mut owning = backend.backends();
    owning.transport = Arc::new(OwnedQueue(backend.queue.clone()));
    let build = |backends| {
        Engine::new(
            blueprints.iter().cloned().map(blueprint).collect(),
            Arc::new(TestRegistry::default()),
            backends,
            EngineConfig::default(),
        )
        .expect("valid blueprints")
    };
    let worker = build(owning);
    worker.start().expect("worker starts");
    (worker, build(backend.backends()), backend)
}

#[tokio::test]
async fn a_resume_from_another_process_is_seen_by_the_owner_that_holds_the_run() {
    // The slow branch finishes after the resume, so the owner's own arrival fires the
    // join: the join must still see what the resume wrote.
    let (worker, client, backend) = worker_and_client(vec![json!({
        "id": "gated",
        "nodes": [
            {"id": "split", "uses": "emit"},
            {"id": "gate", "uses": "wait"},
            {"id": "slow", "uses": "slow", "params": {"ms": 300, "value": "late"}},
            {"id": "join", "uses": "readKeys", "params": {"keys": ["_outputs.gate", "_outputs.slow"]}}
        ],
        "edges": [
            {"source": "split", "target": "gate"},
            {"source": "split", "target": "slow"},
            {"source": "gate", "target": "join", "action": "ok"},
            {"source": "slow", "target": "join"}
        ]
    })]);
    let run_id = client
        .start_run("gated", Map::new(), StartOptions::default())
        .await
        .unwrap();
    let waiting = async {
        loop {
            let context = backend.context.load(&run_id).await.unwrap();
            if context.get("_awaitingNodeIds").is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the gate waits");
    client
        .resume_with_action(&run_id, "ok", Some(json!({"approved": true})))
        .await
        .unwrap();
    let done = client
        .wait_for_run(&run_id, Some(Duration::from_secs(5)))
        .await
        .unwrap();
    settle_down(&worker, &backend).await;
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.reason);
    assert_eq!(
        done.context["_outputs.join"],
        json!({"_outputs.gate": {"approved": true}, "_outputs.slow": "late"})
    );
    worker.stop().await;
}

#[tokio::test]
async fn a_run_failed_elsewhere_stops_its_owner_from_going_on() {
    let (worker, client, backend) = worker_and_client(vec![json!({
        "id": "long",
        "nodes": [
            {"id": "a", "uses": "slow", "params": {"ms": 200}},
            {"id": "b", "uses": "slow", "params": {"ms": 200}},
            {"id": "c", "uses": "emit"}
        ],
        "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "c"}]
    })]);
    let run_id = client
        .start_run("long", Map::new(), StartOptions::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Another process (a reconciler, a cancel) gives the run its final result while the
    // owner holds it in memory.
    let reason = "stopped elsewhere".to_string();
    crate::engine::completion::fail_run(client.core(), &run_id, "long", reason)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    settle_down(&worker, &backend).await;
    let status = client.run_status(&run_id).await.unwrap().unwrap();
    assert_eq!(status.status, RunStatus::Failed);
    assert_eq!(
        super::starts(&backend, &run_id, "c"),
        0,
        "no node runs after the run failed"
    );
    worker.stop().await;
}
