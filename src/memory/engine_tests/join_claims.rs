//! A join's predecessors claim their results with their done markers and arrive at the
//! join in the same step, then store their writes. The join must never run before every
//! arrival's writes are stored: it waits for one still writing, and stores again those
//! of one that died before writing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::watch;

use super::{diamond_engine, starts};
use crate::engine::lifecycle::origin;
use crate::engine::traits::{
    BackendError, BackendResult, BoxFuture, ContextOp, ContextStore, Delivery, JobTransport, WriteStamp,
};
use crate::engine::{Engine, RunStatus, StartOptions};
use crate::memory::MemoryBackend;

/// The memory context store; a write of `_outputs.a` waits while `open` is false, and
/// fails (once) while `fail` is set.
struct GatedWrites {
    inner: Arc<dyn ContextStore>,
    open: watch::Sender<bool>,
    fail: AtomicBool,
}

fn writes_a(ops: &[ContextOp]) -> bool {
    ops.iter()
        .any(|op| serde_json::to_string(op).is_ok_and(|t| t.contains("_outputs.a")))
}

impl ContextStore for GatedWrites {
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
            if writes_a(&ops) {
                if self.fail.swap(false, Ordering::SeqCst) {
                    return Err(BackendError::new("apply context", "store unavailable"));
                }
                let mut open = self.open.subscribe();
                let _ = open.wait_for(|open| *open).await;
            }
            self.inner.apply(run_id, ops, stamp).await
        })
    }
    fn get<'a>(&'a self, run_id: &'a str, key: &'a str) -> BoxFuture<'a, BackendResult<Option<Value>>> {
        self.inner.get(run_id, key)
    }
}

/// s -> (a, b) -> j, j an 'all' join; a run started and s handled: a and b are queued.
async fn diamond(gate_open: bool) -> (MemoryBackend, Arc<GatedWrites>, Arc<Engine>, String) {
    let backend = MemoryBackend::new();
    let context = Arc::new(GatedWrites {
        inner: backend.context.clone(),
        open: watch::channel(gate_open).0,
        fail: AtomicBool::new(false),
    });
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
