//! Starting a run as Flowcraft's distributed client does: seed the context
//! with `{...initial, blueprintId, blueprintVersion}` and enqueue one job per
//! start node (fallback-only nodes excluded, T7).

use serde_json::{json, Map, Value};

use crate::engine::completion::{publish, schedule, seeded_work_record, settle, work_record};
use crate::engine::error::EngineError;
use crate::engine::events::EventKind;
use crate::engine::job::{Job, RunSeed};
use crate::engine::log::Level;
use crate::engine::run::{IfRunExists, StartOptions, VersionSeed};
use crate::engine::shared::EngineCore;
use crate::engine::trace;
use crate::engine::traits::{ContextOp, WriteStamp};

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
    // A run id we made up never ran before: its context is exactly the seed.
    let fresh_id = options.run_id.is_none();
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
    // The row is created before anything else is written, so a refused start changes nothing.
    let created = !fresh_id && options.if_exists == IfRunExists::Refuse;
    if created {
        let creating = core.backends.status.create_run(&run_id, core.now_ms());
        if !creating.await.map_err(&backend)? {
            return Err(EngineError::RunExists {
                run_id: run_id.clone(),
            });
        }
    }
    let carried = (fresh_id && plan.start_nodes.len() == 1)
        .then(|| carried_context(&seed))
        .flatten();
    // Written as a writer other than the owner: the epoch is bumped after, with the
    // start jobs' reservation when there are any.
    core.backends
        .context
        .apply(&run_id, seed, WriteStamp::next())
        .await
        .map_err(&backend)?;
    // A row created above is `running` already.
    if !created {
        core.backends
            .status
            .mark_running(&run_id, core.now_ms())
            .await
            .map_err(&backend)?;
    }
    core.telemetry().run_started(blueprint_id);
    core.log().log_with(Level::Debug, || {
        let context = json!({"runId": run_id, "blueprintId": blueprint_id});
        (format!("Run '{run_id}' of '{blueprint_id}' started"), context)
    });
    core.emit(
        EventKind::RunStart,
        &run_id,
        blueprint_id,
        None,
        None,
        || json!({"startNodes": plan.start_nodes}),
    );
    let mut refs = options
        .trace
        .or_else(|| trace::child_refs(&run_id, ""))
        .unwrap_or_else(|| trace::new_run_refs(&run_id, None));
    refs.blueprint_version = plan.version.clone();
    let mut jobs: Vec<Job> = plan
        .start_nodes
        .iter()
        .map(|node| Job {
            refs: Some(refs.clone()),
            ..Job::start(&run_id, blueprint_id, node, options.start_job_origin.as_deref())
        })
        .collect();
    let seed_with = |jobs: &mut Vec<Job>, epoch: u64| {
        for job in jobs {
            job.seed = carried.clone().map(|context| RunSeed { epoch, context });
        }
    };
    let coordination = &core.backends.coordination;
    if jobs.is_empty() {
        coordination.bump_epoch(&run_id).await.map_err(&backend)?;
        // Nothing to run: the run is complete at once (T2).
        settle(core, &run_id, blueprint_id).await?;
        return Ok(run_id.clone());
    }
    match options.at_ms.filter(|at| *at > core.now_ms()) {
        Some(at) => {
            let epoch = coordination.bump_epoch(&run_id).await.map_err(&backend)?;
            seed_with(&mut jobs, epoch);
            for job in jobs {
                schedule(core, &run_id, at, job).await?;
            }
        }
        None => {
            // The records keep no seed: a job published again reads the context.
            let record = |job: &Job| match carried {
                Some(_) => seeded_work_record(job),
                None => work_record(job, None),
            };
            let records = jobs.iter().map(|job| (job.job_id.clone(), record(job)));
            let stamp = core.now_ms().to_string();
            let reserved = coordination.reserve_jobs_bumping_epoch(&run_id, records.collect(), stamp);
            let epoch = reserved.await.map_err(&backend)?;
            seed_with(&mut jobs, epoch);
            publish(core, &run_id, jobs).await?;
        }
    }
    Ok(run_id.clone())
}

/// Seeds above this size (JSON) are not carried: the owner reads the context instead, so
/// a large initial context never bloats the job message.
const MAX_CARRIED_SEED_BYTES: usize = 16 * 1024;

/// The context `seed` writes on an empty run, if small enough to carry in the start job.
fn carried_context(seed: &[ContextOp]) -> Option<Map<String, Value>> {
    let mut context = Map::new();
    for op in seed {
        op.apply_to(&mut context);
    }
    let size = serde_json::to_vec(&context).map(|json| json.len()).ok()?;
    (size <= MAX_CARRIED_SEED_BYTES).then_some(context)
}
