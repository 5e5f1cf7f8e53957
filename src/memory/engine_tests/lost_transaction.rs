//! A transactional transport can lose the successors a job published (the worker died
//! before its transaction committed) while the job's done marker survives in the
//! coordination store. The redelivered job must publish them again, without re-running
//! its node. And a worker that died between the done marker and releasing the job's
//! token must not hold the run open.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{blueprint, starts};
use crate::engine::lifecycle::origin;
use crate::engine::traits::{
    BackendResult, BoxFuture, CoordinationStore, Delivery, DeliveryReceipt, JobDisposition, JobTransport,
};
use crate::engine::{Engine, EngineConfig, Job, RunStatus, StartOptions};
use crate::memory::conformance::registry::TestRegistry;
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

#[tokio::test]
async fn a_redelivered_job_republishes_successors_its_lost_transaction_held() {
    let backend = MemoryBackend::new();
    let transport = Arc::new(LossyTransport {
        inner: backend.queue.clone(),
        lose: AtomicBool::new(true),
    });
    let mut backends = backend.backends();
    backends.transport = transport.clone();
    let chain = json!({
        "id": "chain",
        "nodes": [{"id": "a", "uses": "emit", "params": {"value": 2}}, {"id": "b", "uses": "capture"}],
        "edges": [{"source": "a", "target": "b"}]
    });
    let engine = Engine::new(
        vec![blueprint(chain)],
        Arc::new(TestRegistry::default()),
        backends,
        EngineConfig::sequential(),
    )
    .unwrap();
    let run_id = engine
        .start_run("chain", Default::default(), StartOptions::default())
        .await
        .unwrap();
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
async fn a_job_done_but_not_released_is_released_when_delivered_again() {
    let backend = MemoryBackend::new();
    let chain = json!({
        "id": "chain",
        "nodes": [{"id": "a", "uses": "emit", "params": {"value": 2}}, {"id": "b", "uses": "capture"}],
        "edges": [{"source": "a", "target": "b"}]
    });
    let engine = Engine::new(
        vec![blueprint(chain)],
        Arc::new(TestRegistry::default()),
        backend.backends(),
        EngineConfig::sequential(),
    )
    .unwrap();
    let run_id = engine
        .start_run("chain", Default::default(), StartOptions::default())
        .await
        .unwrap();
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
