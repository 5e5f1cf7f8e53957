//! A backend's permanent refusal fails the run once and sets the job aside, instead of
//! handing it back to be retried forever (and blocking every job behind it).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{run_to_result, sequential_engine, settle_down, starts, ControlledWrites};
use crate::engine::lifecycle::origin;
use crate::engine::run::{RunStatus, StartOptions};
use crate::engine::traits::{JobDisposition, JobTransport};
use crate::engine::Engine;
use crate::memory::MemoryBackend;

/// s -> a -> b, where every write of `a`'s output is refused for good.
fn refusing_engine() -> (Engine, MemoryBackend, Arc<ControlledWrites>) {
    let backend = MemoryBackend::new();
    let context = ControlledWrites::new(backend.context.clone(), Some("_outputs.a"));
    context.refuse.store(true, Ordering::SeqCst);
    let mut backends = backend.backends();
    backends.context = context.clone();
    let chain = json!({
        "id": "chain",
        "nodes": [
            {"id": "s", "uses": "emit", "params": {"value": 1}},
            {"id": "a", "uses": "emit", "params": {"value": 2}},
            {"id": "b", "uses": "echo"}
        ],
        "edges": [{"source": "s", "target": "a"}, {"source": "a", "target": "b"}]
    });
    (sequential_engine(chain, backends), backend, context)
}

#[tokio::test]
async fn a_refused_write_fails_the_run_naming_the_node_and_rejects_the_job() {
    let (engine, backend, _context) = refusing_engine();
    let run_id = engine
        .start_run("chain", Default::default(), StartOptions::default())
        .await
        .unwrap();
    let start = backend.queue.receive(1).await.unwrap().remove(0);
    let handled = origin::handling(start.receipt, engine.handle_job(start.job)).await;
    assert_eq!(handled.unwrap(), JobDisposition::Done);
    let a = backend.queue.receive(1).await.unwrap().remove(0);
    assert_eq!(a.job.node_id, "a");
    let handled = origin::handling(a.receipt, engine.handle_job(a.job))
        .await
        .unwrap();
    let JobDisposition::Reject { reason } = handled else {
        panic!("a permanent refusal must set the job aside, got {handled:?}");
    };
    assert!(
        reason.contains("Node 'a'") && reason.contains("refuses this write"),
        "{reason}"
    );
    let result = engine
        .wait_for_run(&run_id, Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Failed);
    let failure = result.reason.unwrap();
    assert!(failure.contains("Node 'a' could not be recorded"), "{failure}");
    assert_eq!(
        starts(&backend, &run_id, "b"),
        0,
        "nothing runs after the failure"
    );
}

#[tokio::test]
async fn a_worker_gives_up_once_and_goes_on_with_other_runs() {
    let (engine, backend, context) = refusing_engine();
    engine.start().unwrap();
    // run_to_result waits 10 s at most: a job retried forever would never publish.
    let refused = run_to_result(&engine, "chain", json!({})).await;
    assert_eq!(refused.status, RunStatus::Failed);
    assert_eq!(
        starts(&backend, &refused.run_id, "a"),
        1,
        "the refused job is not retried"
    );
    context.refuse.store(false, Ordering::SeqCst);
    let next = run_to_result(&engine, "chain", json!({})).await;
    assert_eq!(next.status, RunStatus::Completed);
    assert_eq!(next.context.get("_outputs.b"), Some(&json!(2)));
    settle_down(&engine, &backend).await;
}
