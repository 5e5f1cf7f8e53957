//! A job's result is recorded once. The first handling to finish a job stores its
//! completion under the job (set-if-absent) and announces `node:finish`. A body run
//! again after a crash (its worker died after the body finished but before the job's
//! done marker) finds the stored completion and records that one instead of its own,
//! so successors see one output whatever ran twice; a redelivery that finds it before
//! running skips the body altogether.

use serde_json::json;

use crate::engine::error::EngineError;
use crate::engine::events::EventKind;
use crate::engine::job::Job;
use crate::engine::keys;
use crate::engine::shared::EngineCore;
use crate::engine::step::Completion;
use crate::engine::traits::BackendError;

/// Makes `completion` the job's result unless an earlier handling stored one first;
/// answers the result that stands.
pub async fn accept(
    core: &EngineCore,
    blueprint_id: &str,
    job: &Job,
    completion: Completion,
) -> Result<Completion, EngineError> {
    let backend = EngineError::backend_at(&job.run_id, &job.node_id);
    let key = keys::recorded(&job.run_id, &job.job_id);
    let text = serde_json::to_string(&completion).map_err(|error| {
        backend(BackendError::new(
            "store the job's result",
            format!("job '{}': {error}", job.job_id),
        ))
    })?;
    let coordination = &core.backends.coordination;
    if coordination.claim_once(&key, &text).await.map_err(&backend)? {
        announce(core, blueprint_id, job, &completion);
        return Ok(completion);
    }
    let stored = coordination.get(&key).await.map_err(&backend)?;
    // Gone again only if the run finished meanwhile and its keys were dropped: nothing
    // this handling records changes a final run.
    Ok(stored
        .and_then(|text| decode(core, job, &text))
        .unwrap_or(completion))
}

/// `node:finish` for the result that stands (emitted by the handling that claimed it).
pub fn announce(core: &EngineCore, blueprint_id: &str, job: &Job, completion: &Completion) {
    if let Some(notice) = &completion.finished {
        core.emit(
            EventKind::NodeFinish,
            &job.run_id,
            blueprint_id,
            Some(&notice.node_id),
            Some(notice.attempt),
            || {
                let trace = crate::engine::trace::current_node_trace();
                json!({"output": completion.output, "action": completion.action, "trace": trace})
            },
        );
    }
}

/// A stored result (`keys::recorded`), or `None` (with a warning) when unreadable.
pub fn decode(core: &EngineCore, job: &Job, text: &str) -> Option<Completion> {
    match serde_json::from_str(text) {
        Ok(completion) => Some(completion),
        Err(error) => {
            core.log().warn(
                &format!(
                    "ignoring the unreadable stored result of job '{}' (run '{}', node '{}'): {error}",
                    job.job_id, job.run_id, job.node_id
                ),
                json!({"runId": job.run_id, "blueprintId": job.blueprint_id, "nodeId": job.node_id, "jobId": job.job_id}),
            );
            None
        }
    }
}
