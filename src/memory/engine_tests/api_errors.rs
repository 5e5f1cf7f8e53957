use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::{blueprint, run_to_result, started};
use crate::engine::evaluator::Evaluator;
use crate::engine::events::NoEvents;
use crate::engine::run::RunStatus;
use crate::engine::traits::BoxFuture;
use crate::engine::validate::Severity;
use crate::engine::{Engine, EngineConfig, EngineError, StartOptions};
use crate::memory::conformance::registry::TestRegistry;
use crate::memory::MemoryBackend;

#[tokio::test]
async fn invalid_blueprints_are_rejected_with_every_problem() {
    let bad = blueprint(json!({
        "id": "bad",
        "nodes": [{"id": "a", "uses": "emit", "config": {"maxRetries": "many"}}, {"id": "a", "uses": "emit"}],
        "edges": [{"source": "a", "target": "ghost"}]
    }));
    let backend = MemoryBackend::new();
    let error = Engine::new(
        vec![bad],
        Arc::new(TestRegistry::default()),
        backend.backends(),
        EngineConfig::default(),
    )
    .err()
    .expect("rejected");
    let EngineError::InvalidBlueprints { issues } = &error else {
        panic!("{error}");
    };
    assert_eq!(issues.len(), 3, "{error}");
    assert_eq!(error.code(), "ERR_INVALID_BLUEPRINT");
}

#[tokio::test]
async fn unknown_uses_is_a_warning_and_fails_the_run_when_reached() {
    let (engine, _backend) = started(
        vec![json!({"id": "u", "nodes": [{"id": "m", "uses": "nothing"}], "edges": []})],
        EngineConfig::sequential(),
    );
    assert_eq!(engine.warnings().len(), 1);
    assert_eq!(engine.warnings()[0].severity, Severity::Warning);
    let result = run_to_result(&engine, "u", json!({})).await;
    assert_eq!(result.status, RunStatus::Failed);
    assert!(result
        .reason
        .unwrap()
        .contains("Implementation for 'nothing' not found."));
    engine.stop().await;
}

#[tokio::test]
async fn api_misuse_gives_clear_errors() {
    let (engine, _backend) = started(
        vec![json!({"id": "w", "nodes": [{"id": "hold", "uses": "wait"}], "edges": []})],
        EngineConfig::sequential(),
    );
    let unknown = engine
        .start_run("nope", Default::default(), StartOptions::default())
        .await;
    assert!(matches!(unknown, Err(EngineError::UnknownBlueprint { .. })));
    assert!(matches!(engine.start(), Err(EngineError::WorkerStart { .. })));
    assert!(matches!(
        engine.resume_with_action("ghost", "go", None).await,
        Err(EngineError::UnknownRun { .. })
    ));
    let run_id = engine
        .start_run("w", Default::default(), StartOptions::default())
        .await
        .unwrap();
    let paused = engine
        .wait_for_run(&run_id, Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(paused.status, RunStatus::Awaiting);
    engine
        .resume_with_action(&run_id, "go", Some(json!(5)))
        .await
        .unwrap();
    let done = engine
        .wait_for_run(&run_id, Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(done.context["_outputs.hold"], json!(5));
    assert!(matches!(
        engine.resume_with_action(&run_id, "go", None).await,
        Err(EngineError::RunFinished { .. })
    ));
    let never = engine
        .wait_for_run("never-started", Some(Duration::from_millis(20)))
        .await;
    assert!(matches!(never, Err(EngineError::WaitTimedOut { .. })));
    engine.stop().await;
}

/// Treats every expression as true: proves conditions go through the trait.
struct AlwaysTrue;

impl Evaluator for AlwaysTrue {
    fn evaluate<'a>(&'a self, _expression: &'a str, _scope: &'a Value) -> BoxFuture<'a, Option<Value>> {
        Box::pin(async { Some(json!(true)) })
    }
}

#[tokio::test]
async fn the_evaluator_is_pluggable_and_events_can_be_off() {
    let backend = MemoryBackend::new();
    let bp = blueprint(json!({
        "id": "c",
        "nodes": [{"id": "a", "uses": "emit"}, {"id": "b", "uses": "emit", "params": {"value": "reached"}}],
        "edges": [{"source": "a", "target": "b", "condition": "1 > 2"}]
    }));
    let engine = Engine::new(
        vec![bp],
        Arc::new(TestRegistry::default()),
        backend.backends_with(Arc::new(AlwaysTrue), Arc::new(NoEvents)),
        EngineConfig::sequential(),
    )
    .unwrap();
    engine.start().unwrap();
    let result = run_to_result(&engine, "c", json!({})).await;
    assert_eq!(result.context["_outputs.b"], json!("reached"));
    assert!(backend.events.events().is_empty());
    engine.stop().await;
}
