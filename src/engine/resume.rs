//! `resumeWithAction` (T5): writes `_resume.action` / `_resume.output`,
//! makes `output` each waiting node's output, clears the awaiting markers,
//! and routes on from the waiting nodes along the edges of the resume
//! action plus the action-less edges.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::engine::awaiting;
use crate::engine::builtins::subflow_pause;
use crate::engine::completion::{release, reserve};
use crate::engine::error::EngineError;
use crate::engine::events::EventKind;
use crate::engine::job::new_job_id;
use crate::engine::lifecycle::advance::{complete, Finished};
use crate::engine::lifecycle::start::BLUEPRINT_ID;
use crate::engine::limits;
use crate::engine::routing::RouteMode;
use crate::engine::run::RunStatus;
use crate::engine::run_io;
use crate::engine::shared::EngineCore;
use crate::engine::step::Completion;
use crate::engine::traits::{BoxFuture, ContextOp};

pub const RESUME_ACTION: &str = "_resume.action";
pub const RESUME_OUTPUT: &str = "_resume.output";

/// Which waiting nodes a resume continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeTarget<'a> {
    /// Every waiting node (`resumeWithAction`, T5).
    Every,
    /// The first waiting node (FlowRuntime's `resume` without a node id).
    First,
    /// This waiting node; the others keep waiting.
    Node(&'a str),
}

/// What a resume hands the waiting node: the edges it follows (those of `action` and
/// the action-less ones; without an action only the latter) and its output.
#[derive(Debug, Clone, Default)]
pub struct ResumeData {
    pub action: Option<String>,
    pub output: Option<Value>,
}

fn resume_boxed<'a>(
    core: &'a EngineCore,
    run_id: &'a str,
    data: ResumeData,
    target: ResumeTarget<'a>,
) -> BoxFuture<'a, Result<(), EngineError>> {
    Box::pin(resume(core, run_id, data, target))
}

pub async fn resume_with_action(
    core: &EngineCore,
    run_id: &str,
    action: &str,
    output: Option<Value>,
) -> Result<(), EngineError> {
    let data = ResumeData {
        action: Some(action.to_string()),
        output,
    };
    resume(core, run_id, data, ResumeTarget::Every).await
}

pub async fn resume(
    core: &EngineCore,
    run_id: &str,
    data: ResumeData,
    target: ResumeTarget<'_>,
) -> Result<(), EngineError> {
    let ResumeData { action, output } = data;
    let problem = output
        .as_ref()
        .and_then(|value| limits::value_problem("the resume output", value));
    if let Some(message) = problem {
        return Err(EngineError::InvalidInput {
            message: format!("{message} (run '{run_id}')"),
        });
    }
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
    let waiting = awaiting::waiting(&context);
    let not_awaiting = |node_id: Option<&str>| EngineError::NotAwaiting {
        run_id: run_id.to_string(),
        node_id: node_id.map(str::to_string),
    };
    let resumed: Vec<String> = match target {
        _ if waiting.is_empty() => return Err(not_awaiting(None)),
        ResumeTarget::Every => waiting.clone(),
        ResumeTarget::First => waiting[..1].to_vec(),
        ResumeTarget::Node(node) if waiting.iter().any(|id| id == node) => vec![node.to_string()],
        ResumeTarget::Node(node) => return Err(not_awaiting(Some(node))),
    };
    // Holds the run open while the resume routes, so it cannot settle early.
    let token = new_job_id();
    reserve(core, run_id, &[token.as_str()]).await?;
    core.backends
        .status
        .mark_running(run_id, core.now_ms())
        .await
        .map_err(&backend)?;
    // A resume can come before the run published `awaiting` (a branch still running):
    // only a run that was paused is counted and told as resumed.
    if record.status == RunStatus::Awaiting {
        core.telemetry().runs_awaiting_changed(-1);
        core.emit(EventKind::RunResume, run_id, &blueprint_id, None, None, || {
            json!({})
        });
    }
    let mut ops = Vec::new();
    if let Some(action) = &action {
        ops.push(ContextOp::set(RESUME_ACTION, json!(action)));
    }
    if let Some(output) = &output {
        ops.push(ContextOp::set(RESUME_OUTPUT, output.clone()));
    }
    ops.extend(awaiting::without(&context, &resumed));
    run_io::write_context(core, run_id, ops).await.map_err(&backend)?;
    for node_id in resumed {
        if let Some(child) = subflow_pause::paused_child(&context, &node_id) {
            // A paused subflow: the resume goes to its child run.
            subflow_pause::unpause_parent(core, &child).await?;
            let child_target = match target {
                ResumeTarget::Every => ResumeTarget::Every,
                _ => ResumeTarget::First,
            };
            let data = ResumeData {
                action: action.clone(),
                output: output.clone(),
            };
            resume_boxed(core, &child, data, child_target).await?;
            continue;
        }
        let context = core.backends.context.load(run_id).await.map_err(&backend)?;
        let completion = Completion {
            output: output.clone(),
            action: action.clone(),
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
