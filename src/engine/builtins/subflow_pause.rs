//! A child run that pauses on a `wait` pauses its parent's `subflow` node:
//! the parent lists the node in `_awaitingNodeIds` (details name the child
//! run) and gives back the node's token, so the parent reports `awaiting`
//! too. Resuming the parent resumes the child; when the child finishes, the
//! node is woken as usual.

use serde_json::{json, Value};

use crate::engine::awaiting;
use crate::engine::completion::{release, reserve};
use crate::engine::error::EngineError;
use crate::engine::job::Job;
use crate::engine::keys;
use crate::engine::run_io;
use crate::engine::shared::EngineCore;
use crate::engine::traits::BoxFuture;

async fn parent_of(core: &EngineCore, child_run_id: &str) -> Result<Option<Job>, EngineError> {
    let link = core
        .backends
        .coordination
        .get(&keys::subflow_parent(child_run_id))
        .await
        .map_err(EngineError::backend(child_run_id))?;
    Ok(link.and_then(|l| serde_json::from_str(&l).ok()))
}

/// The child `child_run_id` published `awaiting`: pause its parent's node.
/// Boxed: a parent that settles may pause its own parent in turn.
pub fn pause_parent<'a>(
    core: &'a EngineCore,
    child_run_id: &'a str,
) -> BoxFuture<'a, Result<(), EngineError>> {
    Box::pin(async move {
        let Some(wake) = parent_of(core, child_run_id).await? else {
            return Ok(());
        };
        let backend = EngineError::backend_at(&wake.run_id, &wake.node_id);
        let details = json!({"reason": "subflow", "childRunId": child_run_id});
        let ops = vec![awaiting::mark(&wake.node_id, details, core.now_ms())];
        run_io::write_context(core, &wake.run_id, ops)
            .await
            .map_err(&backend)?;
        release(core, &wake.run_id, &wake.blueprint_id, &wake.job_id).await
    })
}

/// The child run a waiting node stands for, if it is a paused subflow.
pub fn paused_child(context: &serde_json::Map<String, Value>, node_id: &str) -> Option<String> {
    let details = awaiting::details(context, node_id)?;
    (details.get("reason")? == "subflow")
        .then(|| details.get("childRunId")?.as_str().map(str::to_string))
        .flatten()
}

/// Takes the parent node's token back before the child is resumed (the
/// child's result will wake the node and release it).
pub async fn unpause_parent(core: &EngineCore, child_run_id: &str) -> Result<(), EngineError> {
    if let Some(wake) = parent_of(core, child_run_id).await? {
        reserve(core, &wake.run_id, &[wake.job_id.as_str()]).await?;
    }
    Ok(())
}
