use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{blueprint, run_to_result, settle_down, started, starts};
use crate::engine::job::Job;
use crate::engine::run::RunStatus;
use crate::engine::traits::{CoordinationStore, JobDisposition, JobTransport};
use crate::engine::{Engine, EngineConfig, StartOptions};
use crate::memory::conformance::registry::TestRegistry;
use crate::memory::MemoryBackend;

fn join_blueprint() -> serde_json::Value {
    json!({
        "id": "j",
        "nodes": [
            {"id": "a", "uses": "emit", "params": {"value": 1}},
            {"id": "b", "uses": "emit", "params": {"value": 2}},
            {"id": "join", "uses": "sum", "inputs": {"a": "a", "b": "b"}}
        ],
        "edges": [{"source": "a", "target": "join"}, {"source": "b", "target": "join"}]
    })
}

#[tokio::test]
async fn redelivered_jobs_count_once() {
    // No worker loop: the test plays the transport and redelivers by hand.
    let backend = MemoryBackend::new();
    let engine = Engine::new(
        vec![blueprint(join_blueprint())],
        Arc::new(TestRegistry::default()),
        backend.backends(),
        EngineConfig::sequential(),
    )
    .unwrap();
    let run_id = engine
        .start_run("j", Default::default(), StartOptions::default())
        .await
        .unwrap();
    let first = backend.queue.receive(10).await.unwrap();
    let job_a: Job = first[0].job.clone();
    assert_eq!(job_a.node_id, "a");
    assert_eq!(
        engine.handle_job(job_a.clone()).await.unwrap(),
        JobDisposition::Done
    );
    // The same delivery again (a commit was lost): skipped entirely.
    engine.handle_job(job_a.clone()).await.unwrap();
    // The node re-run under a new job id, reserved for it (a reconciler's frontier
    // after the run's coordination state was lost): it arrives at the join again,
    // which must still wait for 'b'.
    let mut rerun = job_a.clone();
    rerun.job_id = crate::engine::job::new_job_id();
    let record = crate::engine::completion::work_record(&rerun, None);
    let coordination: &dyn CoordinationStore = backend.coordination.as_ref();
    coordination
        .reserve_jobs(&run_id, vec![(rerun.job_id.clone(), record)], "0".into())
        .await
        .unwrap();
    engine.handle_job(rerun).await.unwrap();
    assert_eq!(
        backend.queue.outstanding(),
        2,
        "only b is left (a's receipt unacknowledged)"
    );
    engine.handle_job(first[1].job.clone()).await.unwrap();
    let join = backend.queue.receive(10).await.unwrap();
    assert_eq!(join.len(), 1);
    assert_eq!(join[0].job.node_id, "join");
    engine.handle_job(join[0].job.clone()).await.unwrap();
    let result = engine
        .wait_for_run(&run_id, Some(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(result.context["_outputs.join"], json!(3));
    assert_eq!(starts(&backend, &run_id, "a"), 2);
    assert_eq!(starts(&backend, &run_id, "join"), 1);
}

#[tokio::test]
async fn concurrent_workers_run_branches_in_parallel() {
    let branches: Vec<serde_json::Value> = (0..8)
        .map(|i| json!({"id": format!("b{i}"), "uses": "slow", "params": {"ms": 120, "value": i}}))
        .collect();
    let mut nodes = vec![json!({"id": "start", "uses": "emit", "params": {"value": 0}})];
    nodes.extend(branches);
    nodes.push(json!({"id": "join", "uses": "emit", "params": {"value": "joined"}}));
    let mut edges = Vec::new();
    for i in 0..8 {
        edges.push(json!({"source": "start", "target": format!("b{i}")}));
        edges.push(json!({"source": format!("b{i}"), "target": "join"}));
    }
    let config = EngineConfig {
        concurrency: 8,
        batch_max: 4,
        ..EngineConfig::default()
    };
    let (engine, backend) = started(vec![json!({"id": "p", "nodes": nodes, "edges": edges})], config);
    let begin = Instant::now();
    let result = run_to_result(&engine, "p", json!({})).await;
    assert_eq!(result.status, RunStatus::Completed);
    assert!(
        begin.elapsed() < Duration::from_millis(600),
        "{:?}",
        begin.elapsed()
    );
    settle_down(&engine, &backend).await;
    assert_eq!(starts(&backend, &result.run_id, "join"), 1);
    assert_eq!(engine.published_results(&result.run_id).await.unwrap().len(), 1);
    engine.stop().await;
}

#[tokio::test]
async fn stop_aborts_in_flight_nodes_after_the_grace_and_a_restart_finishes_them() {
    let config = EngineConfig {
        shutdown_grace: Duration::from_millis(50),
        ..EngineConfig::sequential()
    };
    let (engine, backend) = started(
        vec![json!({"id": "s", "nodes": [{"id": "long", "uses": "slowThenFast",
                "params": {"attemptKey": "long", "slowMs": 5000, "value": "second try"}}], "edges": []})],
        config,
    );
    let run_id = engine
        .start_run("s", Default::default(), StartOptions::default())
        .await
        .unwrap();
    while engine.in_flight() == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let begin = Instant::now();
    engine.stop().await;
    assert!(begin.elapsed() < Duration::from_secs(2));
    assert_eq!(engine.in_flight(), 0);
    assert!(engine.published_results(&run_id).await.unwrap().is_empty());
    // Handed back to the transport for another worker.
    assert_eq!(backend.queue.outstanding(), 1);
    // A restarted worker picks it up (with a fresh shutdown signal).
    engine.start().unwrap();
    let result = engine
        .wait_for_run(&run_id, Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    assert_eq!(
        result.context["_outputs.long"],
        json!({"attempt": 2, "value": "second try"})
    );
    engine.stop().await;
}

#[tokio::test]
async fn parallel_sleeps_overlap_and_the_join_runs_once_after_the_last() {
    let (engine, backend) = started(
        vec![json!({
            "id": "z",
            "nodes": [
                {"id": "go", "uses": "emit", "params": {"value": "v"}},
                {"id": "short", "uses": "sleep", "params": {"duration": 60}},
                {"id": "long", "uses": "sleep", "params": {"duration": 150}},
                {"id": "join", "uses": "capture"}
            ],
            "edges": [
                {"source": "go", "target": "short"}, {"source": "go", "target": "long"},
                {"source": "short", "target": "join"}, {"source": "long", "target": "join"}
            ]
        })],
        EngineConfig::sequential(),
    );
    let begin = Instant::now();
    let result = run_to_result(&engine, "z", json!({})).await;
    let took = begin.elapsed();
    assert_eq!(result.status, RunStatus::Completed);
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_millis(205),
        "{took:?}"
    );
    assert_eq!(starts(&backend, &result.run_id, "join"), 1);
    assert_eq!(result.context["_outputs.long"], json!("v"));
    assert!(!result.context.contains_key("_awaitingNodeIds"));
    engine.stop().await;
}

#[tokio::test]
async fn scheduled_runs_start_at_their_instant() {
    let (engine, backend) = started(
        vec![
            json!({"id": "later", "nodes": [{"id": "a", "uses": "emit", "params": {"value": 1}}], "edges": []}),
        ],
        EngineConfig::sequential(),
    );
    let at = crate::engine::traits::Clock::now_ms(backend.clock.as_ref()) + 80;
    let options = StartOptions {
        at_ms: Some(at),
        ..StartOptions::default()
    };
    let run_id = engine
        .start_run("later", Default::default(), options)
        .await
        .unwrap();
    let result = engine
        .wait_for_run(&run_id, Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Completed);
    let published = engine.published_results(&run_id).await.unwrap();
    assert!(published[0].published_at_ms >= at);
    engine.stop().await;
}

#[tokio::test]
async fn a_rehandled_job_fires_its_join_again_but_no_other_arrival_does() {
    use crate::engine::analysis::BlueprintPlan;
    use crate::engine::fanin::{arrive, expected_arrivals};
    use crate::engine::shared::EngineCore;
    use crate::engine::working::WorkingContext;
    let backend = MemoryBackend::new();
    let plan = BlueprintPlan::new(blueprint(json!({
        "id": "f",
        "nodes": [
            {"id": "a", "uses": "emit"}, {"id": "b", "uses": "emit"},
            {"id": "all", "uses": "emit"}, {"id": "any", "uses": "emit", "config": {"joinStrategy": "any"}}
        ],
        "edges": [
            {"source": "a", "target": "all"}, {"source": "b", "target": "all"},
            {"source": "a", "target": "any"}, {"source": "b", "target": "any"}
        ]
    })));
    let core = EngineCore {
        plans: Default::default(),
        invoker: Arc::new(TestRegistry::default()),
        backends: backend.backends(),
        config: EngineConfig::sequential(),
        in_flight: Default::default(),
        jobs_in_flight: Default::default(),
        run_state: Default::default(),
        arrival_writes: Default::default(),
        shutdown: std::sync::Mutex::default(),
    };
    let ctx = serde_json::Map::new();
    let at = |target: &'static str, member: &'static str, job: &'static str| {
        let (core, plan) = (&core, &plan);
        let expected = expected_arrivals(plan, target, &WorkingContext::new(&ctx));
        assert_eq!(expected, 2, "{target} waits for a and b");
        async move {
            arrive(core, plan, "r", target, member, job, expected)
                .await
                .unwrap()
        }
    };
    assert!(!at("all", "a", "ja").await);
    assert!(at("all", "b", "jb").await);
    // jb handled again after a crash: fires again (same derived successor id).
    assert!(at("all", "b", "jb").await);
    // a's job handled again: it did not fire the join, and must not now.
    assert!(!at("all", "a", "ja").await);
    assert!(at("any", "a", "ja").await);
    assert!(!at("any", "b", "jb").await);
    assert!(at("any", "a", "ja").await);
}

#[tokio::test]
async fn branches_that_begin_waiting_together_are_all_listed() {
    let (engine, _backend) = started(
        vec![json!({
            "id": "gates",
            "nodes": [
                {"id": "go", "uses": "emit", "params": {"value": 1}},
                {"id": "left", "uses": "wait"}, {"id": "middle", "uses": "wait"}, {"id": "right", "uses": "wait"}
            ],
            "edges": [
                {"source": "go", "target": "left"}, {"source": "go", "target": "middle"},
                {"source": "go", "target": "right"}
            ]
        })],
        EngineConfig::default(),
    );
    let runs = (0..10).map(|_| run_to_result(&engine, "gates", json!({})));
    for result in futures::future::join_all(runs).await {
        assert_eq!(result.status, RunStatus::Awaiting);
        let mut waiting: Vec<&str> = result.context["_awaitingNodeIds"]
            .as_array()
            .expect("FlowRuntime's list, as waitForRun shows it")
            .iter()
            .filter_map(|id| id.as_str())
            .collect();
        waiting.sort();
        assert_eq!(waiting, ["left", "middle", "right"]);
        assert!(result.context.keys().all(|key| !key.starts_with("_awaiting.")));
    }
    engine.stop().await;
}

#[tokio::test]
async fn a_resume_while_another_branch_runs_keeps_the_node_that_waits_later() {
    use crate::engine::traits::ContextStore;
    let (engine, backend) = started(
        vec![json!({
            "id": "late",
            "nodes": [
                {"id": "go", "uses": "emit", "params": {"value": 1}},
                {"id": "gate", "uses": "wait"},
                {"id": "slow", "uses": "slow", "params": {"ms": 150, "value": "v"}},
                {"id": "later", "uses": "wait"}
            ],
            "edges": [
                {"source": "go", "target": "gate"}, {"source": "go", "target": "slow"},
                {"source": "slow", "target": "later"}
            ]
        })],
        EngineConfig::default(),
    );
    let run_id = engine
        .start_run("late", Default::default(), StartOptions::default())
        .await
        .unwrap();
    let gate_waits = async {
        loop {
            let context = backend.context.load(&run_id).await.unwrap();
            if crate::engine::awaiting::waiting(&context) == ["gate"] {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), gate_waits)
        .await
        .expect("gate waits while slow runs");
    let data = crate::engine::resume::ResumeData::default();
    engine.resume(&run_id, data.clone(), Some("gate")).await.unwrap();
    let paused = engine
        .wait_for_run(&run_id, Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(paused.status, RunStatus::Awaiting);
    assert_eq!(paused.context["_awaitingNodeIds"], json!(["later"]));
    engine.resume(&run_id, data, None).await.unwrap();
    let done = engine
        .wait_for_run(&run_id, Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(done.status, RunStatus::Completed);
    assert!(!done.context.contains_key("_awaitingNodeIds"));
    assert!(done.context.keys().all(|key| !key.starts_with("_awaiting.")));
    engine.stop().await;
}
