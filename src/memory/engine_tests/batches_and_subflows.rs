use serde_json::json;

use super::{run_to_result, settle_down, started, starts};
use crate::engine::events::EventKind;
use crate::engine::run::RunStatus;
use crate::engine::EngineConfig;

#[tokio::test]
async fn chunked_batches_process_every_item_once_in_order() {
    let (engine, backend) = started(
        vec![json!({
            "id": "b",
            "nodes": [
                {"id": "items", "uses": "emit", "params": {"value": [1, 2, 3, 4, 5]}},
                {"id": "scatter", "uses": "batch-scatter", "inputs": "items",
                 "params": {"workerUsesKey": "multiply", "gatherNodeId": "gather", "chunkSize": 2}},
                {"id": "gather", "uses": "batch-gather", "params": {"gatherNodeId": "gather", "outputKey": "out"}}
            ],
            "edges": [{"source": "items", "target": "scatter"}, {"source": "scatter", "target": "gather"}]
        })],
        EngineConfig::default(),
    );
    let result = run_to_result(&engine, "b", json!({})).await;
    settle_down(&engine, &backend).await;
    assert_eq!(result.status, RunStatus::Completed, "{:?}", result.reason);
    assert_eq!(result.context["out"], json!([2, 4, 6, 8, 10]));
    let workers: Vec<String> = backend
        .events
        .of_kind_in_run(EventKind::NodeStart, &result.run_id)
        .into_iter()
        .filter_map(|e| e.node_id)
        .filter(|id| id.starts_with("multiply_"))
        .collect();
    assert_eq!(workers.len(), 5);
    assert_eq!(starts(&backend, &result.run_id, "gather"), 1);
    engine.stop().await;
}

#[tokio::test]
async fn an_empty_batch_gathers_nothing() {
    let (engine, _backend) = started(
        vec![json!({
            "id": "e",
            "nodes": [
                {"id": "scatter", "uses": "batch-scatter", "params": {"workerUsesKey": "multiply", "gatherNodeId": "gather"}},
                {"id": "gather", "uses": "batch-gather", "params": {"outputKey": "out"}}
            ],
            "edges": [{"source": "scatter", "target": "gather"}]
        })],
        EngineConfig::sequential(),
    );
    let result = run_to_result(&engine, "e", json!({})).await;
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(result.context["out"], json!([]));
    engine.stop().await;
}

fn parent(child_nodes: serde_json::Value) -> Vec<serde_json::Value> {
    vec![
        json!({
            "id": "parent",
            "nodes": [
                {"id": "seed", "uses": "emit", "params": {"value": 4}},
                {"id": "call", "uses": "subflow", "params": {"blueprintId": "child"}},
                {"id": "after", "uses": "capture"}
            ],
            "edges": [{"source": "seed", "target": "call"}, {"source": "call", "target": "after"}]
        }),
        json!({"id": "child", "nodes": child_nodes, "edges": []}),
    ]
}

#[tokio::test]
async fn a_subflow_without_outputs_returns_its_single_terminal_output() {
    let (engine, _backend) = started(
        parent(json!([{"id": "double", "uses": "multiply"}])),
        EngineConfig::sequential(),
    );
    let result = run_to_result(&engine, "parent", json!({})).await;
    assert_eq!(result.status, RunStatus::Completed, "{:?}", result.reason);
    assert_eq!(result.context["_outputs.call"], json!(8));
    assert_eq!(result.context["_outputs.after"], json!({"input": 8}));
    engine.stop().await;
}

#[tokio::test]
async fn a_failed_child_fails_the_subflow_node_and_the_parent() {
    let (engine, backend) = started(
        parent(json!([{"id": "broken", "uses": "alwaysFail", "params": {"message": "child exploded"}}])),
        EngineConfig::sequential(),
    );
    let result = run_to_result(&engine, "parent", json!({})).await;
    settle_down(&engine, &backend).await;
    assert_eq!(result.status, RunStatus::Failed);
    let reason = result.reason.unwrap();
    assert!(
        reason.contains("'call'") && reason.contains("child exploded"),
        "{reason}"
    );
    assert_eq!(starts(&backend, &result.run_id, "after"), 0);
    engine.stop().await;
}

#[tokio::test]
async fn a_wait_inside_a_subflow_pauses_the_parent_and_the_resume_reaches_the_child() {
    let (engine, backend) = started(
        vec![
            json!({
                "id": "outer",
                "nodes": [
                    {"id": "call", "uses": "subflow", "params": {"blueprintId": "inner", "outputs": {"seen": "record"}}},
                    {"id": "after", "uses": "readKeys", "params": {"keys": ["seen"]}}
                ],
                "edges": [{"source": "call", "target": "after"}]
            }),
            json!({
                "id": "inner",
                "nodes": [{"id": "gate", "uses": "wait"}, {"id": "record", "uses": "recordResume"}],
                "edges": [{"source": "gate", "target": "record", "action": "ok"}]
            }),
        ],
        EngineConfig::sequential(),
    );
    let paused = run_to_result(&engine, "outer", json!({})).await;
    assert_eq!(paused.status, RunStatus::Awaiting);
    assert!(paused.context["_awaitingNodeIds"]
        .as_array()
        .is_some_and(|ids| ids == &vec![json!("call")]));
    engine
        .resume_with_action(&paused.run_id, "ok", Some(json!({"by": "me"})))
        .await
        .unwrap();
    let done = engine
        .wait_for_run(&paused.run_id, Some(std::time::Duration::from_secs(5)))
        .await
        .unwrap();
    settle_down(&engine, &backend).await;
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.reason);
    let seen = json!({"action": "ok", "output": {"by": "me"}});
    assert_eq!(done.context["_outputs.after"], json!({ "seen": seen }));
    assert!(!done.context.contains_key("_awaitingNodeIds"));
    let statuses: Vec<_> = engine
        .published_results(&paused.run_id)
        .await
        .unwrap()
        .iter()
        .map(|p| p.status)
        .collect();
    assert_eq!(statuses, [RunStatus::Awaiting, RunStatus::Completed]);
    engine.stop().await;
}
