//! Reconciling stalled runs: a lost job is published again under its own id (so a copy
//! of a job that was not lost is skipped), a lost timer is rescheduled, a run whose
//! blueprint is unknown fails, and a run that progresses is left alone.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{blueprint, starts};
use crate::engine::lifecycle::origin;
use crate::engine::traits::{CoordinationStore, JobTransport};
use crate::engine::{Engine, EngineConfig, JobDisposition, Reconciled, RunResult, RunStatus, StartOptions};
use crate::memory::conformance::registry::TestRegistry;
use crate::memory::MemoryBackend;

fn chain() -> serde_json::Value {
    json!({
        "id": "chain",
        "nodes": [{"id": "a", "uses": "emit", "params": {"value": 2}}, {"id": "b", "uses": "capture"}],
        "edges": [{"source": "a", "target": "b"}]
    })
}

fn engine_on(backend: &MemoryBackend, blueprints: Vec<serde_json::Value>) -> Engine {
    Engine::new(
        blueprints.into_iter().map(blueprint).collect(),
        Arc::new(TestRegistry::default()),
        backend.backends(),
        EngineConfig::sequential(),
    )
    .unwrap()
}

async fn start(engine: &Engine, blueprint_id: &str) -> String {
    engine
        .start_run(blueprint_id, Default::default(), StartOptions::default())
        .await
        .unwrap()
}

/// Starts the engine's worker loop and waits for the run's result.
async fn work_to_the_end(engine: &Engine, run_id: &str) -> RunResult {
    engine.start().unwrap();
    engine
        .wait_for_run(run_id, Some(Duration::from_secs(2)))
        .await
        .unwrap()
}

/// Handles the first queued job and takes the next one off the queue, unhandled.
async fn handle_first_lose_next(engine: &Engine, backend: &MemoryBackend) -> crate::engine::traits::Delivery {
    let first = backend.queue.receive(1).await.unwrap().remove(0);
    origin::handling(first.receipt, engine.handle_job(first.job.clone()))
        .await
        .unwrap();
    backend
        .queue
        .acknowledge(first.receipt, JobDisposition::Done)
        .await
        .unwrap();
    backend.queue.receive(1).await.unwrap().remove(0)
}

#[tokio::test]
async fn a_lost_job_is_published_again_and_a_surviving_copy_is_skipped() {
    let backend = MemoryBackend::new();
    let engine = engine_on(&backend, vec![chain()]);
    let run_id = start(&engine, "chain").await;
    // a runs; its successor b is then lost (taken off the queue, never handled).
    let lost = handle_first_lose_next(&engine, &backend).await;
    assert_eq!(lost.job.node_id, "b");

    let now = engine_now();
    assert_eq!(
        engine.reconcile_run(&run_id, now - 60_000).await.unwrap(),
        Reconciled::Progressing
    );
    let outcome = engine.reconcile_run(&run_id, now + 1).await.unwrap();
    assert_eq!(outcome, Reconciled::Republished { jobs: 1, timers: 0 });
    let again = backend.queue.receive(1).await.unwrap().remove(0);
    assert_eq!(
        again.job.job_id, lost.job.job_id,
        "the same job, under its own id"
    );
    origin::handling(again.receipt, engine.handle_job(again.job.clone()))
        .await
        .unwrap();
    // The 'lost' message turns up after all: its node does not run twice.
    origin::handling(lost.receipt, engine.handle_job(lost.job.clone()))
        .await
        .unwrap();
    let result = engine
        .wait_for_run(&run_id, Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(starts(&backend, &run_id, "b"), 1);
    assert_eq!(
        engine.reconcile_run(&run_id, engine_now() + 1).await.unwrap(),
        Reconciled::Final
    );
}

#[tokio::test]
async fn a_lost_timer_is_scheduled_again_at_its_due_time() {
    let backend = MemoryBackend::new();
    let napping = json!({
        "id": "napping",
        "nodes": [{"id": "nap", "uses": "sleep", "params": {"duration": 100}}],
        "edges": []
    });
    let engine = engine_on(&backend, vec![napping]);
    let run_id = start(&engine, "napping").await;
    let start = backend.queue.receive(1).await.unwrap().remove(0);
    origin::handling(start.receipt, engine.handle_job(start.job.clone()))
        .await
        .unwrap();
    let outcome = engine.reconcile_run(&run_id, engine_now() + 1).await.unwrap();
    assert_eq!(outcome, Reconciled::Republished { jobs: 0, timers: 1 });
    let result = work_to_the_end(&engine, &run_id).await;
    assert_eq!(result.status, RunStatus::Completed);
}

#[tokio::test]
async fn a_run_whose_blueprint_is_unknown_fails_with_the_reason() {
    let backend = MemoryBackend::new();
    let starter = engine_on(&backend, vec![chain()]);
    let run_id = start(&starter, "chain").await;
    let other = json!({"id": "other", "nodes": [{"id": "x", "uses": "capture"}], "edges": []});
    let reconciler = engine_on(&backend, vec![other]);
    match reconciler.reconcile_run(&run_id, engine_now() + 1).await.unwrap() {
        Reconciled::Failed { reason } => assert!(reason.contains("blueprint 'chain'"), "{reason}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    let result = reconciler
        .wait_for_run(&run_id, Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Failed);
}

#[tokio::test]
async fn a_run_whose_coordination_state_is_gone_resumes_from_its_recorded_frontier() {
    let backend = MemoryBackend::new();
    let routed = json!({
        "id": "routed",
        "nodes": [
            {"id": "a", "uses": "emit", "params": {"value": 1, "action": "left"}},
            {"id": "left", "uses": "capture", "params": {"key": "went"}},
            {"id": "right", "uses": "capture", "params": {"key": "went"}}
        ],
        "edges": [
            {"source": "a", "target": "left", "action": "left"},
            {"source": "a", "target": "right", "action": "right"}
        ]
    });
    let engine = engine_on(&backend, vec![routed]);
    let run_id = start(&engine, "routed").await;
    // `left` is lost, and so is every coordination key of the run (a Redis wipe).
    let lost = handle_first_lose_next(&engine, &backend).await;
    assert_eq!(lost.job.node_id, "left");
    backend.coordination.forget_run(&run_id).await.unwrap();

    let outcome = engine.reconcile_run(&run_id, engine_now() + 1).await.unwrap();
    assert_eq!(
        outcome,
        Reconciled::Resumed { jobs: 1 },
        "only the branch routing took"
    );
    let result = work_to_the_end(&engine, &run_id).await;
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(starts(&backend, &run_id, "left"), 1);
    assert_eq!(starts(&backend, &run_id, "right"), 0);
}

#[tokio::test]
async fn a_job_whose_result_was_recorded_records_that_result_without_running_again() {
    let backend = MemoryBackend::new();
    let engine = engine_on(&backend, vec![chain()]);
    let run_id = start(&engine, "chain").await;
    let a = backend.queue.receive(1).await.unwrap().remove(0);
    // An earlier handling of this job finished its body, stored its result and died.
    let stored = json!({"output": 7, "action": null, "ops": [], "workers": []}).to_string();
    let key = crate::engine::keys::recorded(&run_id, &a.job.job_id);
    assert!(backend.coordination.claim_once(&key, &stored).await.unwrap());
    origin::handling(a.receipt, engine.handle_job(a.job.clone()))
        .await
        .unwrap();
    let result = work_to_the_end(&engine, &run_id).await;
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(starts(&backend, &run_id, "a"), 0, "the body did not run again");
    assert_eq!(result.context.get("_outputs.a"), Some(&json!(7)));
    assert_eq!(result.context.get("_outputs.b"), Some(&json!({"input": 7})));
}

fn engine_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
