//! A transactional transport can lose the successors a job published (the worker died
//! before its transaction committed) while the job's done marker survives in the
//! coordination store. The redelivered job must publish them again, without re-running
//! its node. And a worker that died between the done marker and releasing the job's
//! token must not hold the run open.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{diamond_engine, sequential_engine, starts, ControlledWrites};
use crate::engine::lifecycle::origin;
use crate::engine::traits::{
    BackendResult, BoxFuture, ContextStore, CoordinationStore, Delivery, DeliveryReceipt, JobDisposition,
    JobTransport,
};
use crate::engine::{Engine, EngineBackends, Job, RunStatus, StartOptions};
use crate::memory::transport::MemoryJobQueue;
use crate::memory::MemoryBackend;

/// Drops what `enqueue_from` publishes while `lose` is set: an aborted transaction.
struct LossyTransport {
    inner: Arc<MemoryJobQueue>,
    lose: AtomicBool,
}

impl JobTransport for LossyTransport {
    fn enqueue<'a>(&'a self, jobs: Vec<Job>) -> BoxFuture<'a, BackendResult<()>> {
        self.inner.enqueue(jobs)
    }

    fn enqueue_from<'a>(
        &'a self,
        _origin: DeliveryReceipt,
        jobs: Vec<Job>,
    ) -> BoxFuture<'a, BackendResult<()>> {
        if self.lose.load(Ordering::SeqCst) {
            return Box::pin(async { Ok(()) });
        }
        self.inner.enqueue(jobs)
    }

    fn receive<'a>(&'a self, max: usize) -> BoxFuture<'a, BackendResult<Vec<Delivery>>> {
        self.inner.receive(max)
    }

    /// Every handling in this test is of the one message that started the run.
    fn source_of(&self, receipt: DeliveryReceipt) -> Option<String> {
        Some(format!("jobs/0@{}", receipt.0))
    }

    fn acknowledge<'a>(
        &'a self,
        receipt: DeliveryReceipt,
        disposition: JobDisposition,
    ) -> BoxFuture<'a, BackendResult<()>> {
        self.inner.acknowledge(receipt, disposition)
    }
}

/// The chain a -> b on `backends`, one run started.
async fn started_chain(backends: EngineBackends) -> (Engine, String) {
    let chain = json!({
        "id": "chain",
        "nodes": [{"id": "a", "uses": "emit", "params": {"value": 2}}, {"id": "b", "uses": "capture"}],
        "edges": [{"source": "a", "target": "b"}]
    });
    let engine = sequential_engine(chain, backends);
    let run_id = engine
        .start_run("chain", Default::default(), StartOptions::default())
        .await
        .unwrap();
    (engine, run_id)
}

#[tokio::test]
async fn a_redelivered_job_republishes_successors_its_lost_transaction_held() {
    let backend = MemoryBackend::new();
    let transport = Arc::new(LossyTransport {
        inner: backend.queue.clone(),
        lose: AtomicBool::new(true),
    });
    let mut backends = backend.backends();
    backends.transport = transport.clone();
    let (engine, run_id) = started_chain(backends).await;
    let delivered = backend.queue.receive(1).await.unwrap().remove(0);
    assert_eq!(delivered.job.node_id, "a");

    // First handling: a runs, b is published into a transaction that is then lost.
    origin::handling(delivered.receipt, engine.handle_job(delivered.job.clone()))
        .await
        .unwrap();
    assert_eq!(
        backend.queue.outstanding(),
        1,
        "only a's unacknowledged delivery is left"
    );

    // Redelivery after the crash: a is done, so it is not run again; b is published again.
    transport.lose.store(false, Ordering::SeqCst);
    origin::handling(delivered.receipt, engine.handle_job(delivered.job.clone()))
        .await
        .unwrap();
    let successor = tokio::time::timeout(Duration::from_secs(2), backend.queue.receive(1))
        .await
        .expect("b is published again")
        .unwrap()
        .remove(0);
    assert_eq!(successor.job.node_id, "b");
    origin::handling(successor.receipt, engine.handle_job(successor.job.clone()))
        .await
        .unwrap();

    let result = engine
        .wait_for_run(&run_id, Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(starts(&backend, &run_id, "a"), 1, "a's body ran once");
    assert_eq!(starts(&backend, &run_id, "b"), 1);

    // A third delivery of a (a duplicate): b has finished, so nothing is published.
    origin::handling(delivered.receipt, engine.handle_job(delivered.job.clone()))
        .await
        .unwrap();
    assert_eq!(
        backend.queue.outstanding(),
        2,
        "only the two unacknowledged deliveries: a finished successor is not republished"
    );
}

#[tokio::test]
async fn a_branch_that_fired_its_join_in_a_lost_transaction_publishes_the_join_when_redelivered() {
    let backend = MemoryBackend::new();
    let transport = Arc::new(LossyTransport {
        inner: backend.queue.clone(),
        lose: AtomicBool::new(false),
    });
    let mut backends = backend.backends();
    backends.transport = transport.clone();
    let engine = diamond_engine(backends);
    let run_id = engine
        .start_run("diamond", Default::default(), StartOptions::default())
        .await
        .unwrap();
    let handle = |delivery: Delivery| origin::handling(delivery.receipt, engine.handle_job(delivery.job));
    let start = backend.queue.receive(1).await.unwrap().remove(0);
    handle(start).await.unwrap();
    let mut branches = backend.queue.receive(2).await.unwrap();
    branches.sort_by(|x, y| x.job.node_id.cmp(&y.job.node_id));
    let (second, first) = (branches.pop().unwrap(), branches.pop().unwrap());
    handle(first).await.unwrap();
    assert_eq!(
        backend.queue.outstanding(),
        3,
        "one arrival does not fire the join"
    );

    // The second branch fires the join, and the transaction holding the join's job is lost.
    transport.lose.store(true, Ordering::SeqCst);
    let again = Delivery {
        receipt: second.receipt,
        job: second.job.clone(),
    };
    handle(second).await.unwrap();
    transport.lose.store(false, Ordering::SeqCst);
    handle(again).await.unwrap();
    let join = tokio::time::timeout(Duration::from_secs(2), backend.queue.receive(1))
        .await
        .expect("the join's job is published again")
        .unwrap()
        .remove(0);
    assert_eq!(join.job.node_id, "j");
    handle(join).await.unwrap();
    let result = engine
        .wait_for_run(&run_id, Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    for node in ["a", "b", "j"] {
        assert_eq!(starts(&backend, &run_id, node), 1, "{node}'s body ran once");
    }
}

#[tokio::test]
async fn a_job_done_but_not_released_is_released_when_delivered_again() {
    let backend = MemoryBackend::new();
    let (engine, run_id) = started_chain(backend.backends()).await;
    let a = backend.queue.receive(1).await.unwrap().remove(0);
    engine.handle_job(a.job.clone()).await.unwrap();
    // As if the worker died after writing a's done marker, before releasing its token.
    let outstanding = crate::engine::keys::outstanding(&run_id);
    backend
        .coordination
        .add_member(&outstanding, &a.job.job_id)
        .await
        .unwrap();
    // a comes back (its offset was never committed); then b runs.
    engine.handle_job(a.job.clone()).await.unwrap();
    let b = backend.queue.receive(1).await.unwrap().remove(0);
    engine.handle_job(b.job.clone()).await.unwrap();
    let result = engine
        .wait_for_run(&run_id, Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(starts(&backend, &run_id, "a"), 1);
}

/// The chain a -> b started on a context store whose writes can be made to fail.
async fn chain_on_failing_writes() -> (MemoryBackend, Arc<ControlledWrites>, Engine, String) {
    let backend = MemoryBackend::new();
    let context = ControlledWrites::new(backend.context.clone(), None);
    let mut backends = backend.backends();
    backends.context = context.clone();
    let (engine, run_id) = started_chain(backends).await;
    (backend, context, engine, run_id)
}

#[tokio::test]
async fn writes_claimed_with_the_done_marker_but_not_stored_are_stored_on_redelivery() {
    let (backend, context, engine, run_id) = chain_on_failing_writes().await;
    let a = backend.queue.receive(1).await.unwrap().remove(0);
    // a's result is claimed with its done marker, then its write fails: as if the worker
    // died in between.
    context.fail.store(true, Ordering::SeqCst);
    let handled = origin::handling(a.receipt, engine.handle_job(a.job.clone())).await;
    assert!(handled.is_err());
    assert_eq!(backend.context.get(&run_id, "_outputs.a").await.unwrap(), None);
    assert_eq!(
        backend.queue.outstanding(),
        1,
        "b is not published before a's writes"
    );

    origin::handling(a.receipt, engine.handle_job(a.job.clone()))
        .await
        .unwrap();
    assert_eq!(
        backend.context.get(&run_id, "_outputs.a").await.unwrap(),
        Some(json!(2)),
        "the redelivery stores the writes its marker claimed"
    );
    let b = tokio::time::timeout(Duration::from_secs(2), backend.queue.receive(1))
        .await
        .expect("b is published with the redelivery")
        .unwrap()
        .remove(0);
    engine.handle_job(b.job.clone()).await.unwrap();
    let result = engine
        .wait_for_run(&run_id, Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(starts(&backend, &run_id, "a"), 1, "a's body ran once");
    assert_eq!(
        result.context.get("_inputs.b"),
        Some(&json!(2)),
        "b got a's output"
    );
}

#[tokio::test]
async fn a_reconciler_stores_claimed_writes_before_it_settles_the_run() {
    let (backend, context, engine, run_id) = chain_on_failing_writes().await;
    let a = backend.queue.receive(1).await.unwrap().remove(0);
    origin::handling(a.receipt, engine.handle_job(a.job.clone()))
        .await
        .unwrap();
    let b = backend.queue.receive(1).await.unwrap().remove(0);
    // b, the last job, claims its result with its done marker (the run has no token
    // left), and its worker dies before storing b's writes; its message is lost.
    context.fail.store(true, Ordering::SeqCst);
    let handled = origin::handling(b.receipt, engine.handle_job(b.job.clone())).await;
    assert!(handled.is_err());
    assert_eq!(backend.context.get(&run_id, "_outputs.b").await.unwrap(), None);

    let stalled_before = crate::engine::traits::Clock::now_ms(backend.clock.as_ref()) + 1;
    let outcome = engine.reconcile_run(&run_id, stalled_before).await.unwrap();
    assert_eq!(outcome, crate::engine::Reconciled::Settled);
    let result = engine
        .wait_for_run(&run_id, Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(
        result.context.get("_outputs.b"),
        Some(&json!({"input": 2})),
        "the settled context has the writes b claimed"
    );
    assert_eq!(starts(&backend, &run_id, "b"), 1, "b's body ran once");
}
