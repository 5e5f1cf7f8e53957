//! A join's predecessors claim their results with their done markers and arrive at the
//! join in the same step, then store their writes. The join must never run before every
//! arrival's writes are stored: it waits for one still writing, and stores again those
//! of one that died before writing.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{diamond_engine, starts, ControlledWrites};
use crate::engine::lifecycle::origin;
use crate::engine::traits::{ContextStore, Delivery, JobTransport};
use crate::engine::{Engine, RunStatus, StartOptions};
use crate::memory::MemoryBackend;

/// s -> (a, b) -> j, j an 'all' join; a run started and s handled: a and b are queued.
async fn diamond(gate_open: bool) -> (MemoryBackend, Arc<ControlledWrites>, Arc<Engine>, String) {
    let backend = MemoryBackend::new();
    let context = ControlledWrites::new(backend.context.clone(), Some("_outputs.a"));
    context.open.send_replace(gate_open);
    let mut backends = backend.backends();
    backends.context = context.clone();
    let engine = diamond_engine(backends);
    let run_id = engine
        .start_run("diamond", Default::default(), StartOptions::default())
        .await
        .unwrap();
    let engine = Arc::new(engine);
    let start = backend.queue.receive(1).await.unwrap().remove(0);
    handle(&engine, start).await.unwrap();
    (backend, context, engine, run_id)
}

async fn handle(engine: &Engine, delivery: Delivery) -> Result<(), crate::engine::EngineError> {
    origin::handling(delivery.receipt, engine.handle_job(delivery.job))
        .await
        .map(|_| ())
}

/// The queued branches, a first.
async fn branches(backend: &MemoryBackend) -> (Delivery, Delivery) {
    let mut queued = backend.queue.receive(2).await.unwrap();
    queued.sort_by(|x, y| x.job.node_id.cmp(&y.job.node_id));
    let b = queued.pop().unwrap();
    (queued.pop().unwrap(), b)
}

async fn join_completes(backend: &MemoryBackend, engine: &Engine, run_id: &str) {
    let join = tokio::time::timeout(Duration::from_secs(2), backend.queue.receive(1))
        .await
        .expect("the join is published")
        .unwrap()
        .remove(0);
    assert_eq!(join.job.node_id, "j");
    handle(engine, join).await.unwrap();
    let result = engine
        .wait_for_run(run_id, Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(result.context.get("_outputs.a"), Some(&json!(2)));
    assert_eq!(result.context.get("_outputs.b"), Some(&json!(3)));
    for node in ["a", "b", "j"] {
        assert_eq!(starts(backend, run_id, node), 1, "{node}'s body ran once");
    }
}

#[tokio::test]
async fn a_join_fired_while_an_arrival_still_stores_its_writes_waits_for_them() {
    let (backend, context, engine, run_id) = diamond(false).await;
    let (a, b) = branches(&backend).await;
    // a arrives, then its write hangs.
    let a_handling = {
        let engine = engine.clone();
        tokio::spawn(async move { handle(&engine, a).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(backend.context.get(&run_id, "_outputs.a").await.unwrap(), None);
    // b fires the join, and waits for a's writes before publishing it.
    let b_handling = {
        let engine = engine.clone();
        tokio::spawn(async move { handle(&engine, b).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!b_handling.is_finished(), "the firing job waits for a's writes");
    assert_eq!(backend.queue.outstanding(), 3, "the join is not published yet");
    context.open.send_replace(true);
    a_handling.await.unwrap().unwrap();
    b_handling.await.unwrap().unwrap();
    join_completes(&backend, &engine, &run_id).await;
}

#[tokio::test]
async fn a_join_fired_after_an_arrival_died_before_storing_its_writes_stores_them_from_its_marker() {
    let (backend, context, engine, run_id) = diamond(true).await;
    let (a, b) = branches(&backend).await;
    // a claims its result and arrives, then its write fails: as if its worker died.
    context.fail.store(true, Ordering::SeqCst);
    assert!(handle(&engine, a).await.is_err());
    assert_eq!(backend.context.get(&run_id, "_outputs.a").await.unwrap(), None);
    handle(&engine, b).await.unwrap();
    assert_eq!(
        backend.context.get(&run_id, "_outputs.a").await.unwrap(),
        Some(json!(2)),
        "the firing job stored a's writes from a's done marker"
    );
    join_completes(&backend, &engine, &run_id).await;
}
