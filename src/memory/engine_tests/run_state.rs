//! The owner's in-memory copy of a run (`engine::run_state`), exercised with a queue
//! that, like Kafka, hands every job of a run to one owner: the copy must never hide a
//! write made elsewhere.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{blueprint, settle_down};
use crate::engine::run::RunFailure;
use crate::engine::run::{RunStatus, StartOptions};
use crate::engine::traits::{
    BackendResult, BoxFuture, ContextOp, ContextStore, Delivery, DeliveryReceipt, JobDisposition,
    JobTransport, WriteStamp,
};
use crate::engine::{Engine, EngineConfig, Job};
use crate::memory::conformance::registry::TestRegistry;
use crate::memory::{MemoryBackend, MemoryJobQueue};

/// The memory queue, consumed by one worker only: that worker owns every run.
pub(super) struct OwnedQueue(pub(super) Arc<MemoryJobQueue>);

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

/// The memory context store, counting the worker's whole-context reads.
struct CountedLoads {
    inner: Arc<dyn ContextStore>,
    loads: Arc<AtomicUsize>,
}

impl ContextStore for CountedLoads {
    fn load<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<Map<String, Value>>> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load(run_id)
    }
    fn apply<'a>(
        &'a self,
        run_id: &'a str,
        ops: Vec<ContextOp>,
        stamp: WriteStamp,
    ) -> BoxFuture<'a, BackendResult<()>> {
        self.inner.apply(run_id, ops, stamp)
    }
    fn get<'a>(&'a self, run_id: &'a str, key: &'a str) -> BoxFuture<'a, BackendResult<Option<Value>>> {
        self.inner.get(run_id, key)
    }
}

/// A worker owning its runs, and a client (no worker) on the same stores and queue.
fn worker_and_client(blueprints: Vec<Value>) -> (Engine, Engine, MemoryBackend) {
    let (worker, client, backend, _) = unstarted_worker_and_client(blueprints);
    worker.start().expect("worker starts");
    (worker, client, backend)
}

/// As `worker_and_client`, the worker not started yet; with the count of its context reads.
fn unstarted_worker_and_client(blueprints: Vec<Value>) -> (Engine, Engine, MemoryBackend, Arc<AtomicUsize>) {
    let backend = MemoryBackend::new();
    let mut owning = backend.backends();
    owning.transport = Arc::new(OwnedQueue(backend.queue.clone()));
    let loads = Arc::new(AtomicUsize::new(0));
    owning.context = Arc::new(CountedLoads {
        inner: owning.context.clone(),
        loads: loads.clone(),
    });
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
    (worker, build(backend.backends()), backend, loads)
}

fn reader_chain() -> Value {
    json!({
        "id": "reader",
        "nodes": [
            {"id": "first", "uses": "readKeys", "params": {"keys": ["x"]}},
            {"id": "second", "uses": "readKeys", "params": {"keys": ["x", "_outputs.first"]}}
        ],
        "edges": [{"source": "first", "target": "second"}]
    })
}

async fn start_reader(client: &Engine, options: StartOptions) -> String {
    let initial = [("x".to_string(), json!("given"))].into_iter().collect();
    client.start_run("reader", initial, options).await.unwrap()
}

/// The run's result, once the worker has nothing left in flight.
async fn finished(
    client: &Engine,
    worker: &Engine,
    backend: &MemoryBackend,
    run_id: &str,
) -> crate::engine::run::RunResult {
    let done = client
        .wait_for_run(run_id, Some(Duration::from_secs(5)))
        .await
        .unwrap();
    settle_down(worker, backend).await;
    done
}

#[tokio::test]
async fn a_new_run_is_handled_from_the_context_its_start_job_carries() {
    let (worker, client, backend, loads) = unstarted_worker_and_client(vec![reader_chain()]);
    worker.start().expect("worker starts");
    let run_id = start_reader(&client, StartOptions::default()).await;
    let done = finished(&client, &worker, &backend, &run_id).await;
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.reason);
    assert_eq!(done.context["_outputs.first"], json!({"x": "given"}));
    assert_eq!(
        loads.load(Ordering::SeqCst),
        0,
        "the owner never read the run back"
    );
    worker.stop().await;
}

#[tokio::test]
async fn a_carried_context_written_over_elsewhere_is_read_again() {
    let (worker, client, backend, loads) = unstarted_worker_and_client(vec![reader_chain()]);
    let run_id = start_reader(&client, StartOptions::default()).await;
    // Before any worker took the start job, another process changed the run.
    crate::engine::run_io::write_context(
        client.core(),
        &run_id,
        vec![ContextOp::set("x", json!("changed"))],
    )
    .await
    .unwrap();
    worker.start().expect("worker starts");
    let done = finished(&client, &worker, &backend, &run_id).await;
    assert_eq!(done.context["_outputs.first"], json!({"x": "changed"}));
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    worker.stop().await;
}

#[tokio::test]
async fn a_run_started_under_a_given_id_is_read_by_its_owner() {
    let (worker, client, backend, loads) = unstarted_worker_and_client(vec![reader_chain()]);
    worker.start().expect("worker starts");
    let options = StartOptions {
        run_id: Some("given-id".into()),
        ..StartOptions::default()
    };
    let run_id = start_reader(&client, options).await;
    let done = finished(&client, &worker, &backend, &run_id).await;
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(
        loads.load(Ordering::SeqCst),
        1,
        "an id given by the user may have been used before"
    );
    worker.stop().await;
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
            if !crate::engine::awaiting::waiting(&context).is_empty() {
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
    crate::engine::completion::fail_run(client.core(), &run_id, "long", RunFailure::of_run(reason))
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

#[tokio::test]
async fn concurrent_finals_announce_once_and_a_dead_claimant_is_taken_over() {
    use crate::engine::events::EventKind;
    use crate::engine::traits::CoordinationStore;
    let (worker, client, backend, _) = unstarted_worker_and_client(vec![reader_chain()]);
    let core = client.core();
    let fail = |reason: &str| {
        crate::engine::completion::fail_run(core, "raced", "reader", RunFailure::of_run(reason.to_string()))
    };
    let (a, b) = tokio::join!(fail("first"), fail("second"));
    a.unwrap();
    b.unwrap();
    assert_eq!(
        backend.events.of_kind_in_run(EventKind::RunFinish, "raced").len(),
        1
    );

    // A claimant that died between its claim and its write, long ago: the next final
    // takes its claim over and publishes.
    let long_ago = core.now_ms() - 120_000;
    backend
        .coordination
        .claim_final("orphaned", "dead-client", long_ago, None)
        .await
        .unwrap();
    crate::engine::completion::fail_run(core, "orphaned", "reader", RunFailure::of_run("later".into()))
        .await
        .unwrap();
    assert_eq!(
        backend
            .events
            .of_kind_in_run(EventKind::RunFinish, "orphaned")
            .len(),
        1
    );
    let record = client.run_status("orphaned").await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    drop(worker);
}
