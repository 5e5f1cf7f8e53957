use serde_json::json;

use super::{run_to_result, settle_down, started, starts};
use crate::engine::events::EventKind;
use crate::engine::run::RunStatus;
use crate::engine::EngineConfig;

#[tokio::test]
async fn retries_emit_events_and_the_last_error_fails_the_run_once() {
    let (engine, backend) = started(
        vec![json!({
            "id": "r",
            "nodes": [
                {"id": "start", "uses": "emit", "params": {"value": 1}},
                {"id": "bad", "uses": "alwaysFail", "params": {"message": "boom"}, "config": {"maxRetries": 3}},
                {"id": "bad2", "uses": "alwaysFail", "params": {"message": "second"}},
                {"id": "next", "uses": "echo"}
            ],
            "edges": [
                {"source": "start", "target": "bad"},
                {"source": "start", "target": "bad2"},
                {"source": "bad", "target": "next"}
            ]
        })],
        EngineConfig::sequential(),
    );
    let result = run_to_result(&engine, "r", json!({})).await;
    settle_down(&engine, &backend).await;
    assert_eq!(result.status, RunStatus::Failed);
    let reason = result.reason.unwrap();
    assert!(
        reason.contains("'bad'") && reason.contains("boom") && reason.contains("3 attempts"),
        "{reason}"
    );
    assert_eq!(starts(&backend, &result.run_id, "bad"), 3);
    let retries = backend
        .events
        .of_kind_in_run(EventKind::NodeRetry, &result.run_id);
    assert_eq!(
        retries.iter().map(|e| e.attempt).collect::<Vec<_>>(),
        [Some(1), Some(2)]
    );
    // bad2 was in flight: it may run, but publishes nothing.
    let published = engine.published_results(&result.run_id).await.unwrap();
    assert_eq!(published.len(), 1);
    assert_eq!(starts(&backend, &result.run_id, "next"), 0);
    engine.stop().await;
}

#[tokio::test]
async fn a_failing_fallback_fails_the_node_with_both_names() {
    let (engine, backend) = started(
        vec![json!({
            "id": "fb",
            "nodes": [
                {"id": "primary", "uses": "alwaysFail", "params": {"message": "down"}, "config": {"fallback": "backup"}},
                {"id": "backup", "uses": "alwaysFail", "params": {"message": "also down"}}
            ],
            "edges": []
        })],
        EngineConfig::sequential(),
    );
    let result = run_to_result(&engine, "fb", json!({})).await;
    assert_eq!(result.status, RunStatus::Failed);
    let reason = result.reason.unwrap();
    assert!(
        reason.contains("primary") && reason.contains("backup") && reason.contains("also down"),
        "{reason}"
    );
    assert_eq!(starts(&backend, &result.run_id, "backup"), 1);
    assert!(!result.context.contains_key("_outputs.primary"));
    engine.stop().await;
}

#[tokio::test]
async fn retry_delay_goes_through_the_timer_and_keeps_the_worker_free() {
    let (engine, backend) = started(
        vec![json!({
            "id": "d",
            "nodes": [
                {"id": "flaky", "uses": "flaky", "params": {"attemptKey": "f", "failTimes": 1, "value": 7},
                 "config": {"maxRetries": 2, "retryDelay": 80}},
                {"id": "quick", "uses": "emit", "params": {"value": "q"}}
            ],
            "edges": []
        })],
        EngineConfig::sequential(),
    );
    let started_at = std::time::Instant::now();
    let result = run_to_result(&engine, "d", json!({})).await;
    assert_eq!(result.status, RunStatus::Completed);
    assert!(started_at.elapsed().as_millis() >= 80);
    assert_eq!(
        result.context["_outputs.flaky"],
        json!({"attempts": 2, "value": 7})
    );
    // 'quick' ran during the delay: it started before flaky's second attempt.
    let events = backend
        .events
        .of_kind_in_run(EventKind::NodeStart, &result.run_id);
    let order: Vec<(String, Option<u32>)> = events
        .iter()
        .map(|e| (e.node_id.clone().unwrap(), e.attempt))
        .collect();
    assert_eq!(
        order,
        [
            ("flaky".to_string(), Some(1)),
            ("quick".to_string(), Some(1)),
            ("flaky".to_string(), Some(2))
        ]
    );
    engine.stop().await;
}

#[tokio::test]
async fn version_mismatch_runs_nothing() {
    let (engine, backend) = started(
        vec![
            json!({"id": "v", "nodes": [{"id": "a", "uses": "emit"}], "edges": [], "metadata": {"version": "2"}}),
        ],
        EngineConfig::sequential(),
    );
    let run_id = engine
        .start_run(
            "v",
            Default::default(),
            crate::engine::StartOptions {
                version: crate::engine::VersionSeed::Explicit(Some("1".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let result = engine.wait_for_run(&run_id, None).await.unwrap();
    assert_eq!(result.status, RunStatus::Failed);
    assert!(result.reason.unwrap().contains("version mismatch"));
    assert_eq!(starts(&backend, &run_id, "a"), 0);
    engine.stop().await;
}
