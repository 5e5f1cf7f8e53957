//! Starting a run as Flowcraft's distributed client does: seed the context
//! with `{...initial, blueprintId, blueprintVersion}` and enqueue one job per
//! start node (fallback-only nodes excluded, T7).

use serde_json::{json, Map, Value};

use crate::engine::completion::{dispatch, schedule, settle};
use crate::engine::error::EngineError;
use crate::engine::events::EventKind;
use crate::engine::job::Job;
use crate::engine::run::{StartOptions, VersionSeed};
use crate::engine::run_io;
use crate::engine::shared::EngineCore;
use crate::engine::traits::ContextOp;

pub const BLUEPRINT_ID: &str = "blueprintId";
pub const BLUEPRINT_VERSION: &str = "blueprintVersion";

pub async fn start_run_internal(
    core: &EngineCore,
    blueprint_id: &str,
    initial_context: Map<String, Value>,
    options: StartOptions,
) -> Result<String, EngineError> {
    let plan = core
        .plan(blueprint_id)
        .ok_or_else(|| EngineError::UnknownBlueprint {
            blueprint_id: blueprint_id.to_string(),
        })?
        .clone();
    let run_id = options.run_id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let mut seed: Vec<ContextOp> = initial_context
        .into_iter()
        .map(|(key, value)| ContextOp::set(key, value))
        .collect();
    seed.push(ContextOp::set(BLUEPRINT_ID, json!(blueprint_id)));
    match options.version {
        VersionSeed::FromBlueprint => seed.push(ContextOp::set(BLUEPRINT_VERSION, json!(plan.version))),
        VersionSeed::Explicit(version) => seed.push(ContextOp::set(BLUEPRINT_VERSION, json!(version))),
        VersionSeed::Omit => {}
    }
    let backend = EngineError::backend(&run_id);
    run_io::write_context(core, &run_id, seed)
        .await
        .map_err(&backend)?;
    core.backends
        .status
        .mark_running(&run_id, core.now_ms())
        .await
        .map_err(&backend)?;
    core.emit(
        EventKind::RunStart,
        &run_id,
        blueprint_id,
        None,
        None,
        || json!({"startNodes": plan.start_nodes}),
    );
    let jobs: Vec<Job> = plan
        .start_nodes
        .iter()
        .map(|node| Job::derived(&run_id, blueprint_id, node, &run_id, &format!("start:{node}")))
        .collect();
    if jobs.is_empty() {
        // Nothing to run: the run is complete at once (T2).
        settle(core, &run_id, blueprint_id).await?;
        return Ok(run_id.clone());
    }
    match options.at_ms.filter(|at| *at > core.now_ms()) {
        Some(at) => {
            for job in jobs {
                schedule(core, &run_id, at, job).await?;
            }
        }
        None => dispatch(core, &run_id, jobs).await?,
    }
    Ok(run_id.clone())
}
