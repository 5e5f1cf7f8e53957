//! Runs one case on a fresh worker (engine + memory backends).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::compare::{compare, Observed};
use super::registry::TestRegistry;
use crate::engine::blueprint::WorkflowBlueprint;
use crate::engine::events::EventKind;
use crate::engine::run::{RunStatus, StartOptions, VersionSeed};
use crate::engine::traits::{Clock, ContextStore};
use crate::engine::{Engine, EngineConfig};
use crate::memory::MemoryBackend;

const WAIT: Duration = Duration::from_secs(20);

/// `<uses>_<batchId>_<index>` → `<uses>_*_<index>`.
fn execution_name(node_id: &str) -> String {
    let parts: Vec<&str> = node_id.rsplitn(3, '_').collect();
    if parts.len() == 3
        && parts[1].len() == 36
        && parts[1].chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        && parts[0].chars().all(|c| c.is_ascii_digit())
    {
        format!("{}_*_{}", parts[2], parts[0])
    } else {
        node_id.to_string()
    }
}

async fn wait_idle(engine: &Engine, backend: &MemoryBackend) {
    let deadline = Instant::now() + WAIT;
    let mut quiet = 0;
    while Instant::now() < deadline {
        if backend.is_idle() && engine.in_flight() == 0 {
            quiet += 1;
            if quiet >= 3 {
                return;
            }
        } else {
            quiet = 0;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn blueprints(case: &Value) -> Vec<WorkflowBlueprint> {
    let mut all = vec![serde_json::from_value(case["blueprint"].clone()).expect("blueprint")];
    for sub in case["subBlueprints"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        all.push(serde_json::from_value(sub.clone()).expect("sub-blueprint"));
    }
    all
}

fn version_seed(case: &Value) -> VersionSeed {
    if case["clientOmitsVersion"].as_bool() == Some(true) {
        return VersionSeed::Omit;
    }
    match case.get("clientBlueprintVersion") {
        Some(Value::String(v)) => VersionSeed::Explicit(Some(v.clone())),
        Some(Value::Null) => VersionSeed::Explicit(None),
        _ => VersionSeed::FromBlueprint,
    }
}

/// Concurrency 1 as the README requires; `CONFORMANCE_CONCURRENCY=n` runs
/// the suite with n jobs at once to look for races (cases that pin FIFO
/// order may then differ).
fn config() -> EngineConfig {
    match std::env::var("CONFORMANCE_CONCURRENCY")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        Some(n) if n > 1 => EngineConfig {
            concurrency: n,
            batch_max: n,
            ..EngineConfig::default()
        },
        _ => EngineConfig::sequential(),
    }
}

pub async fn run_case(case: &Value) -> Vec<String> {
    let blueprints = blueprints(case);
    let node_ids: HashSet<String> = blueprints
        .iter()
        .flat_map(|b| b.nodes.iter().map(|n| n.id.clone()))
        .collect();
    let blueprint_id = blueprints[0].id.clone();
    let backend = MemoryBackend::new();
    let engine = match Engine::new(
        blueprints,
        Arc::new(TestRegistry::default()),
        backend.backends(),
        config(),
    ) {
        Ok(engine) => engine,
        Err(e) => return vec![format!("engine construction failed: {e}")],
    };
    engine.start().expect("start worker");
    let runs = case["sameWorkerRuns"].as_u64().unwrap_or(1).max(1);
    let mut diffs = Vec::new();
    for n in 1..=runs {
        let run_diffs = run_once(case, &engine, &backend, &blueprint_id, &node_ids).await;
        diffs.extend(
            run_diffs
                .into_iter()
                .map(|d| if runs > 1 { format!("run {n}: {d}") } else { d }),
        );
    }
    engine.stop().await;
    diffs
}

async fn run_once(
    case: &Value,
    engine: &Engine,
    backend: &MemoryBackend,
    blueprint_id: &str,
    node_ids: &HashSet<String>,
) -> Vec<String> {
    let initial: Map<String, Value> = case["initialContext"].as_object().cloned().unwrap_or_default();
    let options = StartOptions {
        version: version_seed(case),
        ..StartOptions::default()
    };
    let started_ms = backend.clock.now_ms();
    let run_id = match engine.start_run(blueprint_id, initial, options).await {
        Ok(id) => id,
        Err(e) => return vec![format!("start_run failed: {e}")],
    };
    let first = match engine.wait_for_run(&run_id, Some(WAIT)).await {
        Ok(r) => r,
        Err(e) => return vec![format!("wait_for_run: {e}")],
    };
    wait_idle(engine, backend).await;
    let mut result = first.clone();
    let mut resume_applied = false;
    if let (Some(resume), RunStatus::Awaiting) = (case.get("resume"), first.status) {
        let action = resume["action"].as_str().unwrap_or_default();
        if let Err(e) = engine
            .resume_with_action(&run_id, action, resume.get("output").cloned())
            .await
        {
            return vec![format!("resume_with_action: {e}")];
        }
        resume_applied = true;
        result = match engine.wait_for_run(&run_id, Some(WAIT)).await {
            Ok(r) => r,
            Err(e) => return vec![format!("wait_for_run after resume: {e}")],
        };
        wait_idle(engine, backend).await;
    }
    let published = engine.published_results(&run_id).await.unwrap_or_default();
    let finished_ms = published.last().map_or(started_ms, |p| p.published_at_ms);
    let mut executions: HashMap<String, u64> = HashMap::new();
    for event in backend.events.of_kind_in_run(EventKind::NodeStart, &run_id) {
        if let Some(node) = &event.node_id {
            *executions.entry(execution_name(node)).or_default() += 1;
        }
    }
    let observed = Observed {
        status: result.status,
        status_before_resume: case.get("resume").map(|_| first.status),
        reason: result.reason.clone(),
        published,
        resume_applied,
        context: backend.context.load(&run_id).await.unwrap_or_default(),
        executions,
        duration_ms: finished_ms.saturating_sub(started_ms),
        node_ids: node_ids.clone(),
    };
    compare(&case["expect"], &observed)
}
