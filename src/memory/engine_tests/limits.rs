//! Input limits: a run id, an initial context, a node output or a resume output outside
//! them is refused where it enters, with a coded error or a failed run naming the limit,
//! and nothing of it is written. A run id names one run: a second start is refused.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::started;
use crate::engine::limits::{MAX_RUN_ID_BYTES, MAX_VALUE_DEPTH};
use crate::engine::traits::ContextStore;
use crate::engine::{EngineConfig, EngineError, IfRunExists, RunStatus, StartOptions};

fn nested(depth: usize) -> Value {
    (1..depth).fold(json!("leaf"), |inner, _| json!([inner]))
}

fn with_id(run_id: &str) -> StartOptions {
    StartOptions {
        run_id: Some(run_id.to_string()),
        ..Default::default()
    }
}

fn emit(value: Value) -> Value {
    json!({"id": "deep", "nodes": [{"id": "e", "uses": "emit", "params": {"value": value}}], "edges": []})
}

#[tokio::test]
async fn run_ids_outside_the_limits_are_refused_before_anything_is_written() {
    let (engine, backend) = started(vec![emit(json!(1))], EngineConfig::sequential());
    let long = "r".repeat(MAX_RUN_ID_BYTES + 1);
    for bad in ["", "a\0b", "tab\there", long.as_str()] {
        let refused = engine.start_run("deep", Map::new(), with_id(bad)).await;
        let Err(error) = refused else {
            panic!("run id {bad:?} accepted")
        };
        assert_eq!(error.code(), "ERR_INVALID_RUN_ID", "{error}");
        assert!(error.to_string().len() < 200, "the message stays short: {error}");
        assert!(backend.context.load(bad).await.unwrap().is_empty());
    }
    let longest = "r".repeat(MAX_RUN_ID_BYTES);
    for good in ["order-17:b/ü 🚀", longest.as_str()] {
        engine.start_run("deep", Map::new(), with_id(good)).await.unwrap();
        let result = engine
            .wait_for_run(good, Some(Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(result.status, RunStatus::Completed, "run {good:?}");
    }
    engine.stop().await;
}

#[tokio::test]
async fn a_second_start_under_one_run_id_is_refused_unless_asked_to_overwrite() {
    let (engine, backend) = started(vec![emit(json!(1))], EngineConfig::sequential());
    let first: Map<String, Value> = json!({"order": 1}).as_object().cloned().unwrap();
    engine.start_run("deep", first, with_id("order-1")).await.unwrap();
    let done = engine
        .wait_for_run("order-1", Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(done.status, RunStatus::Completed);

    let second: Map<String, Value> = json!({"order": 2}).as_object().cloned().unwrap();
    let refused = engine.start_run("deep", second.clone(), with_id("order-1")).await;
    assert!(
        matches!(refused, Err(EngineError::RunExists { .. })),
        "{refused:?}"
    );
    let stored = backend.context.load("order-1").await.unwrap();
    assert_eq!(
        stored.get("order"),
        Some(&json!(1)),
        "the refused start wrote nothing"
    );

    let overwrite = StartOptions {
        if_exists: IfRunExists::Overwrite,
        ..with_id("order-1")
    };
    engine.start_run("deep", second, overwrite).await.unwrap();
    let stored = backend.context.load("order-1").await.unwrap();
    assert_eq!(stored.get("order"), Some(&json!(2)));
    engine.stop().await;
}

#[tokio::test]
async fn values_deeper_than_the_limit_are_refused_and_just_under_is_stored() {
    let (engine, _backend) = started(
        vec![emit(nested(MAX_VALUE_DEPTH)), {
            let mut over = emit(nested(MAX_VALUE_DEPTH + 1));
            over["id"] = json!("too-deep");
            over
        }],
        EngineConfig::sequential(),
    );
    let wait = Some(Duration::from_secs(5));
    let under = engine
        .run("deep", Map::new(), StartOptions::default(), wait)
        .await
        .unwrap();
    assert_eq!(under.status, RunStatus::Completed);
    assert_eq!(under.context.get("_outputs.e"), Some(&nested(MAX_VALUE_DEPTH)));

    let over = engine
        .run("too-deep", Map::new(), StartOptions::default(), wait)
        .await
        .unwrap();
    assert_eq!(over.status, RunStatus::Failed);
    let reason = over.reason.unwrap_or_default();
    assert!(
        reason.contains("node 'e'") && reason.contains("at most 100"),
        "{reason}"
    );
    assert!(!over.context.contains_key("_outputs.e"));

    let deep_context: Map<String, Value> = json!({"doc": nested(MAX_VALUE_DEPTH + 1)})
        .as_object()
        .cloned()
        .unwrap();
    let refused = engine
        .start_run("deep", deep_context, StartOptions::default())
        .await;
    let Err(error) = refused else {
        panic!("deep initial context accepted")
    };
    assert_eq!(error.code(), "ERR_INVALID_INPUT");
    assert!(error.to_string().contains("'doc'"), "{error}");
    engine.stop().await;
}
