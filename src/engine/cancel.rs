//! `cancel(runId)` (T2): the run ends `cancelled`, a final result like the others (the
//! first one claimed is the only one published), and nothing of it runs afterwards. The
//! status row turns final and the run's coordination state is forgotten, so every job,
//! timer or wake-up of the run that arrives later finds no reservation and a final run,
//! and changes nothing; the owner's copy learns it through the run's epoch. A node
//! already running finishes, and nothing follows it. Child runs of its `subflow` nodes
//! that have not finished are cancelled too.

use crate::engine::builtins::{self, subflow::child_run_id};
use crate::engine::completion::{publish_final, FinalOutcome};
use crate::engine::error::EngineError;
use crate::engine::keys;
use crate::engine::lifecycle::start::BLUEPRINT_ID;
use crate::engine::run::RunStatus;
use crate::engine::shared::EngineCore;
use crate::engine::traits::BoxFuture;

/// What `cancel` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// This call ended the run.
    Now,
    /// It was cancelled before.
    Already,
}

pub async fn cancel_run(core: &EngineCore, run_id: &str, reason: &str) -> Result<Cancelled, EngineError> {
    let backend = EngineError::backend(run_id);
    let status = core.backends.status.get(run_id).await.map_err(&backend)?;
    let status = status
        .ok_or_else(|| EngineError::UnknownRun {
            run_id: run_id.to_string(),
        })?
        .status;
    match status {
        RunStatus::Cancelled => return Ok(Cancelled::Already),
        status if status.is_final() => {
            return Err(EngineError::RunFinished {
                run_id: run_id.to_string(),
                status: status.as_str(),
            })
        }
        _ => {}
    }
    let blueprint_id = core
        .backends
        .context
        .get(run_id, BLUEPRINT_ID)
        .await
        .map_err(&backend)?
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_default();
    // Read before the run's coordination state is forgotten with its final result.
    let children = unfinished_children(core, run_id, &blueprint_id).await?;
    let reason = format!("{reason} in run '{run_id}'");
    let outcome = FinalOutcome {
        status: RunStatus::Cancelled,
        reason: Some(reason),
        failed_node: None,
        context: None,
    };
    let won = publish_final(core, run_id, &blueprint_id, outcome).await?;
    if !won {
        // Another final result was first (the run completed or failed meanwhile).
        let record = core.backends.status.get(run_id).await.map_err(&backend)?;
        let status = record.map_or(RunStatus::Completed, |r| r.status);
        if status == RunStatus::Cancelled {
            return Ok(Cancelled::Already);
        }
        return Err(EngineError::RunFinished {
            run_id: run_id.to_string(),
            status: status.as_str(),
        });
    }
    if status == RunStatus::Awaiting {
        core.telemetry().runs_awaiting_changed(-1);
    }
    for child in children {
        // A child that finished meanwhile keeps its result.
        match cancel_boxed(core, &child, "its parent run was cancelled").await {
            Ok(_) | Err(EngineError::RunFinished { .. }) | Err(EngineError::UnknownRun { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(Cancelled::Now)
}

fn cancel_boxed<'a>(
    core: &'a EngineCore,
    run_id: &'a str,
    reason: &'a str,
) -> BoxFuture<'a, Result<Cancelled, EngineError>> {
    Box::pin(cancel_run(core, run_id, reason))
}

/// The child runs of the run's `subflow` nodes that have not finished: a running child
/// holds its parent's token of the wake-up that its result publishes, and its run id is
/// made of the parent's, the node's and that token.
async fn unfinished_children(
    core: &EngineCore,
    run_id: &str,
    blueprint_id: &str,
) -> Result<Vec<String>, EngineError> {
    let Some(plan) = core.plan(blueprint_id) else {
        return Ok(Vec::new());
    };
    let subflows: Vec<&str> = plan
        .blueprint
        .nodes
        .iter()
        .filter(|n| n.uses == builtins::SUBFLOW)
        .map(|n| n.id.as_str())
        .collect();
    if subflows.is_empty() {
        return Ok(Vec::new());
    }
    let backend = EngineError::backend(run_id);
    let coordination = &core.backends.coordination;
    let tokens = coordination
        .members(&keys::outstanding(run_id))
        .await
        .map_err(&backend)?;
    let mut children = Vec::new();
    for token in &tokens {
        if coordination
            .work_record(run_id, token)
            .await
            .map_err(&backend)?
            .is_some()
        {
            continue;
        }
        for node in &subflows {
            let child = child_run_id(run_id, node, token);
            let record = core.backends.status.get(&child).await.map_err(&backend)?;
            if record.is_some_and(|r| !r.status.is_final()) {
                children.push(child);
            }
        }
    }
    Ok(children)
}
