//! `resumeWithAction` (T5): writes `_resume.action` / `_resume.output`,
//! makes `output` each waiting node's output, clears the awaiting markers,
//! and routes on from the waiting nodes along the edges of the resume
//! action plus the action-less edges.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::engine::builtins::subflow_pause;
use crate::engine::completion::{release, reserve, AWAITING_DETAILS, AWAITING_NODE_IDS};
use crate::engine::error::EngineError;
use crate::engine::job::new_job_id;
use crate::engine::lifecycle::advance::{complete, Finished};
use crate::engine::lifecycle::start::BLUEPRINT_ID;
use crate::engine::routing::RouteMode;
use crate::engine::run_io;
use crate::engine::shared::EngineCore;
use crate::engine::step::Completion;
use crate::engine::traits::{BoxFuture, ContextOp};

pub const RESUME_ACTION: &str = "_resume.action";
pub const RESUME_OUTPUT: &str = "_resume.output";

fn resume_boxed<'a>(
    core: &'a EngineCore,
    run_id: &'a str,
    action: &'a str,
    output: Option<Value>,
) -> BoxFuture<'a, Result<(), EngineError>> {
    Box::pin(resume_with_action(core, run_id, action, output))
}

pub async fn resume_with_action(
    core: &EngineCore,
    run_id: &str,
    action: &str,
    output: Option<Value>,
) -> Result<(), EngineError> {
    let backend = EngineError::backend(run_id);
    let record = core
        .backends
        .status
        .get(run_id)
        .await
        .map_err(&backend)?
        .ok_or_else(|| EngineError::UnknownRun {
            run_id: run_id.to_string(),
        })?;
    if record.status.is_final() {
        return Err(EngineError::RunFinished {
            run_id: run_id.to_string(),
            status: record.status.as_str(),
        });
    }
    let context = core.backends.context.load(run_id).await.map_err(&backend)?;
    let blueprint_id = context
        .get(BLUEPRINT_ID)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let plan = core
        .plan(&blueprint_id)
        .ok_or_else(|| EngineError::UnknownBlueprint {
            blueprint_id: blueprint_id.clone(),
        })?
        .clone();
    let waiting: Vec<String> = context
        .get(AWAITING_NODE_IDS)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if waiting.is_empty() {
        return Err(EngineError::NotAwaiting {
            run_id: run_id.to_string(),
        });
    }
    // Holds the run open while the resume routes, so it cannot settle early.
    let token = new_job_id();
    reserve(core, run_id, &[token.as_str()]).await?;
    core.backends
        .status
        .mark_running(run_id, core.now_ms())
        .await
        .map_err(&backend)?;
    core.telemetry().runs_awaiting_changed(-1);
    let mut ops = vec![ContextOp::set(RESUME_ACTION, json!(action))];
    if let Some(output) = &output {
        ops.push(ContextOp::set(RESUME_OUTPUT, output.clone()));
    }
    ops.push(ContextOp::delete(AWAITING_NODE_IDS));
    ops.push(ContextOp::delete(AWAITING_DETAILS));
    run_io::write_context(core, run_id, ops).await.map_err(&backend)?;
    for node_id in waiting {
        if let Some(child) = subflow_pause::paused_child(&context, &node_id) {
            // A paused subflow: the resume goes to its child run.
            subflow_pause::unpause_parent(core, &child).await?;
            resume_boxed(core, &child, action, output.clone()).await?;
            continue;
        }
        let context = core.backends.context.load(run_id).await.map_err(&backend)?;
        let completion = Completion {
            output: output.clone(),
            action: Some(action.to_string()),
            ..Completion::default()
        };
        complete(
            core,
            &plan,
            Finished {
                run_id,
                node_id: &node_id,
                origin: &token,
            },
            completion,
            Arc::new(context),
            RouteMode::Resume,
        )
        .await?;
    }
    release(core, run_id, &blueprint_id, &token).await
}
