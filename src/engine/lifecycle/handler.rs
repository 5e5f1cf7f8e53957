//! Handles one job, top to bottom: guard against redelivery and finished
//! runs, check the version, run the node (user function with retries and
//! fallback, or a built-in), record the outcome, then end the job (`finish`).

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::engine::analysis::BlueprintPlan;
use crate::engine::blueprint::NodeDefinition;
use crate::engine::builtins::{self, BuiltinCall};
use crate::engine::completion::{fail_run, schedule};
use crate::engine::error::EngineError;
use crate::engine::events::EventKind;
use crate::engine::inputs::resolve_node_input;
use crate::engine::invoker::NodeFailure;
use crate::engine::job::{Job, JobPhase};
use crate::engine::keys;
use crate::engine::lifecycle::accept;
use crate::engine::lifecycle::advance::{complete, complete_deferring_writes, worker_finished, Finished};
use crate::engine::lifecycle::finish::{finish, give_up, redelivered_done, reject, ClaimedResult, JobRef};
use crate::engine::lifecycle::origin;
use crate::engine::lifecycle::version::version_mismatch;
use crate::engine::policy::NodePolicy;
use crate::engine::retry::attempt::{run_attempts, AttemptsOutcome, CallTemplate};
use crate::engine::retry::fallback::run_fallback;
use crate::engine::routing::RouteMode;
use crate::engine::run::RunFailure;
use crate::engine::run_io::{self, Begun};
use crate::engine::run_state;
use crate::engine::shared::EngineCore;
use crate::engine::step::{Completion, Continuation, FinishNotice, NodeStep};
use crate::engine::traits::JobDisposition;

/// Handles a delivered job. `Redeliver` means nothing was recorded. A backend's
/// permanent refusal is not handed back to be retried forever: the job gives up.
pub async fn handle_job(core: &EngineCore, job: Job) -> Result<JobDisposition, EngineError> {
    let (run_id, job_id) = (job.run_id.clone(), job.job_id.clone());
    let (blueprint_id, node_id) = (job.blueprint_id.clone(), job.node_id.clone());
    let refs = job.refs.clone();
    let handled = async {
        match handle_owned_job(core, job).await {
            Err(EngineError::Backend { source, .. }) if source.permanent => {
                let job = JobRef {
                    run_id: &run_id,
                    blueprint_id: &blueprint_id,
                    job_id: &job_id,
                    node_id: &node_id,
                };
                give_up(core, job, source).await
            }
            handled => handled,
        }
    };
    let generation = core.backends.transport.generation();
    let traced = crate::engine::trace::handling(&run_id, &node_id, &job_id, refs, handled);
    run_state::owning(&run_id, &job_id, generation, Box::pin(traced)).await
}

async fn handle_owned_job(core: &EngineCore, job: Job) -> Result<JobDisposition, EngineError> {
    let run_id = job.run_id.as_str();
    let _only_copy_running_here = core.jobs_in_flight.claim(&job.job_id).await;
    // Boxed steps keep this future small: it is moved into a task per job.
    let (recorded, snapshot) = match Box::pin(run_io::begin_job(core, &job)).await? {
        Begun::ToHandle { recorded, snapshot } => (recorded, snapshot),
        Begun::Refused { reason } => return Ok(JobDisposition::Reject { reason }),
        Begun::Late => {
            origin::mark_duplicate();
            return Ok(JobDisposition::Done);
        }
        Begun::Early { at_ms } => return back_to_the_timer(core, job, at_ms).await,
        Begun::Done { marker } => {
            origin::mark_duplicate();
            // Only an expected job is ever marked done, so its blueprint was known then:
            // a copy naming another is not that job.
            return match known_plan(core, &job) {
                Ok(plan) => redelivered_done(core, &plan, &job, &marker).await,
                Err(reason) => Ok(JobDisposition::Reject { reason }),
            };
        }
    };
    // The run expects this job: a blueprint or node unknown here fails it.
    let plan = match known_plan(core, &job) {
        Ok(plan) => plan,
        Err(reason) => {
            let blueprint_id = job.blueprint_id.clone();
            return reject(core, &job, &blueprint_id, reason).await;
        }
    };
    if let Some(published_at_ms) = job.published_at_ms {
        let waited = core.now_ms().saturating_sub(published_at_ms);
        core.telemetry()
            .hop(plan.id(), std::time::Duration::from_millis(waited));
    }
    let mut claimed = None;
    if !snapshot.is_final {
        let context = snapshot.context;
        match version_mismatch(&plan, &context) {
            Some(reason) => {
                let failure = RunFailure::of_node(reason, &job.node_id, true);
                fail_run(core, run_id, plan.id(), failure).await?
            }
            None => {
                let stored = recorded
                    .as_deref()
                    .and_then(|text| accept::decode(core, &job, text));
                // Outside a delivery's handling successors cannot wait for the finish.
                let claim_with_marker = stored.is_none()
                    && job.dynamic.is_none()
                    && plan.claims_with_marker.contains(&job.node_id)
                    && origin::current_receipt().is_some();
                let step = match stored {
                    Some(completion) => NodeStep::Completed(completion),
                    None => Box::pin(node_step(core, &plan, &job, &context)).await?,
                };
                match step {
                    NodeStep::Completed(mut completion) if claim_with_marker => {
                        let finished = Finished {
                            run_id,
                            node_id: &job.node_id,
                            origin: &job.job_id,
                        };
                        let deferred =
                            complete_deferring_writes(core, &plan, finished, &mut completion, context);
                        let ops = Box::pin(deferred).await?;
                        claimed = Some(ClaimedResult { completion, ops });
                    }
                    NodeStep::Completed(completion) => {
                        let completion = accept::accept(core, plan.id(), &job, completion).await?;
                        let step = NodeStep::Completed(completion);
                        Box::pin(record_step(core, &plan, &job, step, context)).await?;
                    }
                    NodeStep::Interrupted => {
                        return Ok(JobDisposition::Redeliver {
                            reason: "the worker stopped while the node ran".into(),
                        })
                    }
                    step => Box::pin(record_step(core, &plan, &job, step, context)).await?,
                }
            }
        }
    }
    Box::pin(finish(core, &plan, &job, claimed)).await?;
    Ok(JobDisposition::Done)
}

/// The blueprint plan of an expected job, or why it cannot run here.
fn known_plan(core: &EngineCore, job: &Job) -> Result<Arc<BlueprintPlan>, String> {
    let Some(plan) = core.plan(&job.blueprint_id).cloned() else {
        return Err(format!(
            "Blueprint with ID '{}' not found in the worker's runtime registry.",
            job.blueprint_id
        ));
    };
    if job.dynamic.is_none() && plan.node(&job.node_id).is_none() {
        return Err(format!(
            "Node '{}' not found in blueprint '{}'.",
            job.node_id,
            plan.id()
        ));
    }
    Ok(plan)
}

/// A timer's job that came well before its due time (a forged copy, or a timer service
/// whose clock runs ahead): handed back to the timer, under the same id, for `at_ms`.
async fn back_to_the_timer(core: &EngineCore, job: Job, at_ms: u64) -> Result<JobDisposition, EngineError> {
    let run_id = job.run_id.clone();
    core.backends
        .timer
        .schedule(at_ms, job)
        .await
        .map_err(EngineError::backend(&run_id))?;
    Ok(JobDisposition::Done)
}

async fn record_step(
    core: &EngineCore,
    plan: &Arc<BlueprintPlan>,
    job: &Job,
    step: NodeStep,
    context: Arc<Map<String, Value>>,
) -> Result<(), EngineError> {
    let run_id = job.run_id.as_str();
    let backend = EngineError::backend_at(run_id, &job.node_id);
    // Every arm lets go of the context before it writes, so that the owner's copy is
    // updated in place instead of copied.
    match step {
        NodeStep::Completed(completion) => match &job.dynamic {
            Some(spec) => worker_finished(core, plan, run_id, &job.job_id, spec, completion, context).await,
            None => {
                let finished = Finished {
                    run_id,
                    node_id: &job.node_id,
                    origin: &job.job_id,
                };
                complete(core, plan, finished, completion, context, RouteMode::Normal).await
            }
        },
        NodeStep::Awaiting { ops } => {
            drop(context);
            run_io::write_context(core, run_id, ops).await.map_err(backend)
        }
        NodeStep::Deferred { ops, continuation } => {
            drop(context);
            if !ops.is_empty() {
                run_io::write_context(core, run_id, ops).await.map_err(&backend)?;
            }
            match continuation {
                Continuation::At { at_ms, job: next } => schedule(core, run_id, at_ms, *next).await,
                Continuation::External => Ok(()),
            }
        }
        NodeStep::Failed { reason, fatal } => {
            drop(context);
            let failure = RunFailure::of_node(reason, &job.node_id, fatal);
            fail_run(core, run_id, plan.id(), failure).await
        }
        NodeStep::Interrupted => Ok(()),
    }
}

async fn inputs_rewritten(
    core: &EngineCore,
    plan: &BlueprintPlan,
    run_id: &str,
    node_id: &str,
) -> Result<bool, EngineError> {
    if !plan.rewritable_inputs.contains(node_id) {
        return Ok(false);
    }
    let marker = core
        .backends
        .coordination
        .get(&keys::inputs_rewritten(run_id, node_id))
        .await
        .map_err(EngineError::backend_at(run_id, node_id))?;
    Ok(marker.is_some())
}

/// Runs the job's node and says what happened.
async fn node_step(
    core: &EngineCore,
    plan: &Arc<BlueprintPlan>,
    job: &Job,
    context: &Arc<Map<String, Value>>,
) -> Result<NodeStep, EngineError> {
    if let Some(spec) = &job.dynamic {
        let template = CallTemplate {
            run_id: job.run_id.clone(),
            blueprint_id: job.blueprint_id.clone(),
            node_id: job.node_id.clone(),
            uses: spec.uses.clone(),
            input: context.get(&spec.input_key).cloned(),
            params: json!({}),
            context: context.clone(),
            prepared: job.prepared.clone(),
        };
        if !core.invoker.has(&spec.uses) {
            return Ok(not_found(&job.node_id, &spec.uses));
        }
        let policy = NodePolicy::default();
        return Ok(user_node(core, plan, job, &template, &policy, context).await);
    }
    let Some(node) = plan.node(&job.node_id) else {
        return Ok(NodeStep::Failed {
            reason: format!("Node '{}' not found in blueprint '{}'.", job.node_id, plan.id()),
            fatal: true,
        });
    };
    let rewritten = inputs_rewritten(core, plan, &job.run_id, &node.id).await?;
    let input = resolve_node_input(node, context, rewritten);
    let policy = plan.policy(&node.id);
    let user = core.invoker.has(&node.uses);
    if job.phase == JobPhase::Wake && !user {
        let call = builtin_call(core, plan, job, node, input, context);
        let result = builtins::wake(call).await;
        return Ok(finish_builtin(core, plan, job, node, &policy, result, context).await);
    }
    if user {
        let template = CallTemplate {
            run_id: job.run_id.clone(),
            blueprint_id: job.blueprint_id.clone(),
            node_id: node.id.clone(),
            uses: node.uses.clone(),
            input,
            params: node.params(),
            context: context.clone(),
            prepared: job.prepared.clone(),
        };
        return Ok(user_node(core, plan, job, &template, &policy, context).await);
    }
    if !builtins::is_builtin(&node.uses) {
        return Ok(not_found(&node.id, &node.uses));
    }
    core.emit(
        EventKind::NodeStart,
        &job.run_id,
        plan.id(),
        Some(&node.id),
        Some(1),
        || {
            let mut data = json!({"uses": node.uses});
            if let Some(input) = &input {
                data["input"] = input.clone();
            }
            data
        },
    );
    let call = builtin_call(core, plan, job, node, input, context);
    let result = builtins::execute(call).await;
    Ok(finish_builtin(core, plan, job, node, &policy, result, context).await)
}

fn builtin_call<'a>(
    core: &'a EngineCore,
    plan: &'a Arc<BlueprintPlan>,
    job: &'a Job,
    node: &'a NodeDefinition,
    input: Option<Value>,
    context: &'a Map<String, Value>,
) -> BuiltinCall<'a> {
    BuiltinCall {
        core,
        plan,
        job,
        node,
        input,
        context,
    }
}

/// An unknown `uses` fails the node without events or fallback (fatal).
fn not_found(node_id: &str, uses: &str) -> NodeStep {
    NodeStep::Failed {
        reason: format!("Node '{node_id}' failed: Implementation for '{uses}' not found."),
        fatal: true,
    }
}

async fn finish_builtin(
    core: &EngineCore,
    plan: &BlueprintPlan,
    job: &Job,
    node: &NodeDefinition,
    policy: &NodePolicy,
    result: builtins::BuiltinResult,
    context: &Map<String, Value>,
) -> NodeStep {
    match result {
        Ok(NodeStep::Completed(mut completion)) => {
            completion.finished = Some(FinishNotice::new(&node.id, 1));
            NodeStep::Completed(completion)
        }
        Ok(step) => step,
        Err(message) => {
            core.emit(
                EventKind::NodeError,
                &job.run_id,
                plan.id(),
                Some(&node.id),
                Some(1),
                || json!({"error": message}),
            );
            let failure = NodeFailure::new(message);
            node_failed(core, plan, &job.run_id, &node.id, policy, failure, 1, context).await
        }
    }
}

async fn user_node(
    core: &EngineCore,
    plan: &BlueprintPlan,
    job: &Job,
    template: &CallTemplate,
    policy: &NodePolicy,
    context: &Map<String, Value>,
) -> NodeStep {
    match run_attempts(core, template, policy, job.first_attempt(), false).await {
        AttemptsOutcome::Succeeded { result, attempt } => NodeStep::Completed(Completion {
            output: result.output,
            action: result.action,
            ops: result.context_ops,
            workers: Vec::new(),
            finished: Some(FinishNotice::new(&job.node_id, attempt)),
        }),
        AttemptsOutcome::RetryLater {
            next_attempt,
            at_ms,
            prepared,
        } => {
            let purpose = format!("retry:{next_attempt}");
            let mut retry = Job::derived(
                &job.run_id,
                &job.blueprint_id,
                &job.node_id,
                &job.job_id,
                &purpose,
            );
            retry.attempt = Some(next_attempt);
            retry.prepared = prepared;
            retry.dynamic = job.dynamic.clone();
            NodeStep::Deferred {
                ops: Vec::new(),
                continuation: Continuation::At {
                    at_ms,
                    job: Box::new(retry),
                },
            }
        }
        AttemptsOutcome::Exhausted { failure, attempts } => {
            node_failed(
                core,
                plan,
                &job.run_id,
                &job.node_id,
                policy,
                failure,
                attempts,
                context,
            )
            .await
        }
        AttemptsOutcome::Interrupted => NodeStep::Interrupted,
    }
}

/// The last attempt failed: the fallback runs (T7), unless the error is fatal, else the
/// run fails (T9).
#[allow(clippy::too_many_arguments)]
async fn node_failed(
    core: &EngineCore,
    plan: &BlueprintPlan,
    run_id: &str,
    node_id: &str,
    policy: &NodePolicy,
    failure: NodeFailure,
    attempts: u32,
    context: &Map<String, Value>,
) -> NodeStep {
    let message = failure.message;
    if let Some(fallback) = policy.fallback.as_ref().filter(|_| !failure.fatal) {
        let blueprint_id = plan.id();
        core.emit(
            EventKind::NodeFallback,
            run_id,
            blueprint_id,
            Some(node_id),
            None,
            || json!({"fallback": fallback}),
        );
        let rewritten = inputs_rewritten(core, plan, run_id, fallback)
            .await
            .unwrap_or(false);
        return run_fallback(core, plan, run_id, node_id, fallback, context, rewritten).await;
    }
    let tries = if attempts > 1 {
        format!(" after {attempts} attempts")
    } else {
        String::new()
    };
    NodeStep::Failed {
        reason: format!("Node '{node_id}' failed{tries}: {message}"),
        fatal: failure.fatal,
    }
}
