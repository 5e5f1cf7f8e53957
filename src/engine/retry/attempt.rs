//! Runs the attempts of a user node (T11): `maxRetries` is the number of
//! attempts; each attempt gets its own abort signal, fired by the node's
//! `timeout` or by shutdown; `retryDelay` is waited through the Timer (the
//! next attempt is a new job), never by blocking.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::engine::abort::AbortSignal;
use crate::engine::events::EventKind;
use crate::engine::invoker::{NodeCall, NodeFailure, NodeReturn};
use crate::engine::limits::{value_problem, write_problem};
use crate::engine::policy::NodePolicy;
use crate::engine::shared::EngineCore;
use crate::engine::traits::ContextOp;

/// The parts of a `NodeCall` that do not change between attempts.
#[derive(Debug, Clone)]
pub struct CallTemplate {
    pub run_id: String,
    pub blueprint_id: String,
    pub node_id: String,
    pub uses: String,
    pub input: Option<Value>,
    pub params: Value,
    pub context: Arc<Map<String, Value>>,
    /// A class node's `prep` result, once an attempt has made it (see `NodeCall`).
    pub prepared: Option<Value>,
}

#[derive(Debug)]
pub enum AttemptsOutcome {
    Succeeded {
        result: NodeReturn,
        attempt: u32,
    },
    /// Attempt `next_attempt` must start at `at_ms` (a delayed retry).
    RetryLater {
        next_attempt: u32,
        at_ms: u64,
        /// For the next attempt (`CallTemplate::prepared`).
        prepared: Option<Value>,
    },
    /// Every attempt failed (or one that allows no other): the last error.
    Exhausted {
        failure: NodeFailure,
        attempts: u32,
    },
    Interrupted,
}

enum AttemptError {
    Failed(NodeFailure),
    Interrupted,
}

async fn one_attempt(
    core: &EngineCore,
    template: &CallTemplate,
    policy: &NodePolicy,
    attempt: u32,
) -> Result<NodeReturn, AttemptError> {
    let abort = AbortSignal::new();
    // Shutdown aborts every in-flight attempt.
    let shutdown = core.shutdown_signal();
    let forward_shutdown = abort.clone();
    let _shutdown_listener = shutdown.on_abort(move |reason| forward_shutdown.abort(reason));
    let call = NodeCall {
        run_id: template.run_id.clone(),
        blueprint_id: template.blueprint_id.clone(),
        node_id: template.node_id.clone(),
        uses: template.uses.clone(),
        attempt,
        last_attempt: attempt >= policy.max_attempts,
        input: template.input.clone(),
        prepared: template.prepared.clone(),
        params: template.params.clone(),
        context: template.context.clone(),
        abort: abort.clone(),
        trace: crate::engine::trace::current_node_trace(),
    };
    // Borrowed, not moved, into the select: the call must still be alive
    // when the timeout fires the signal, so the node's listeners run.
    let mut invocation = core.invoker.invoke(call);
    let deadline = async {
        match policy.timeout_ms {
            Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = &mut invocation => {
            if shutdown.is_aborted() && result.is_err() {
                return Err(AttemptError::Interrupted);
            }
            result
                .and_then(|result| within_limits(&template.node_id, result))
                .map_err(AttemptError::Failed)
        }
        _ = deadline => {
            let ms = policy.timeout_ms.unwrap_or_default();
            let message = format!("Node '{}' timed out after {ms} ms", template.node_id);
            abort.abort(&message);
            Err(AttemptError::Failed(NodeFailure::new(message)))
        }
        _ = shutdown.aborted() => Err(AttemptError::Interrupted),
    }
}

/// A result too deep or too large to store fails its attempt, naming the node and the
/// limit, before anything of it is written. The output counts twice in the job's write:
/// under its own key and as its successor's input.
fn within_limits(node_id: &str, result: NodeReturn) -> Result<NodeReturn, NodeFailure> {
    let output = result
        .output
        .as_ref()
        .and_then(|value| value_problem(format_args!("the output of node '{node_id}'"), value));
    let writes = || {
        result.context_ops.iter().find_map(|op| match op {
            ContextOp::Set { key, value } => {
                value_problem(format_args!("node '{node_id}''s context write of '{key}'"), value)
            }
            ContextOp::Delete { .. } => None,
        })
    };
    let whole = || {
        let written = result.context_ops.iter().filter_map(|op| match op {
            ContextOp::Set { value, .. } => Some((value, 1)),
            ContextOp::Delete { .. } => None,
        });
        let values = result.output.iter().map(|output| (output, 2)).chain(written);
        write_problem(
            format_args!("node '{node_id}''s output and context writes"),
            values,
        )
    };
    match output.or_else(writes).or_else(whole) {
        Some(problem) => Err(NodeFailure::new(problem)),
        None => Ok(result),
    }
}

/// The node's name in metrics: a batch worker's id is made per batch, so it is named by
/// the function it runs, keeping the label set bounded by what the blueprint declares.
fn node_label(core: &EngineCore, template: &CallTemplate) -> String {
    let declared = core
        .plan(&template.blueprint_id)
        .is_some_and(|plan| plan.node(&template.node_id).is_some());
    match declared {
        true => template.node_id.clone(),
        false => format!("{} (batch worker)", template.uses),
    }
}

/// Runs attempts `first_attempt..=max`. With `inline_delays` (a fallback
/// running inside its primary's job) delays are awaited in place.
pub async fn run_attempts(
    core: &EngineCore,
    template: &CallTemplate,
    policy: &NodePolicy,
    first_attempt: u32,
    inline_delays: bool,
) -> AttemptsOutcome {
    // Takes the class node's `prep` result once an attempt hands it back.
    let mut current = std::borrow::Cow::Borrowed(template);
    let max = policy.max_attempts.max(1);
    let mut attempt = first_attempt.max(1);
    let (run, bp, node) = (
        &template.run_id,
        &template.blueprint_id,
        template.node_id.as_str(),
    );
    let label = node_label(core, template);
    loop {
        core.emit(EventKind::NodeStart, run, bp, Some(node), Some(attempt), || {
            let trace = crate::engine::trace::current_node_trace();
            let mut data = json!({"uses": template.uses, "trace": trace});
            // Absent, not null, for a node without input (FlowRuntime's `undefined`).
            if let Some(input) = &template.input {
                data["input"] = input.clone();
            }
            data
        });
        let began = std::time::Instant::now();
        let attempted = one_attempt(core, &current, policy, attempt).await;
        if !matches!(attempted, Err(AttemptError::Interrupted)) {
            core.telemetry().node_ran(bp, &label, began.elapsed());
        }
        match attempted {
            // `node:finish` waits until the result is accepted (see `lifecycle::accept`).
            Ok(result) => return AttemptsOutcome::Succeeded { result, attempt },
            Err(AttemptError::Interrupted) => return AttemptsOutcome::Interrupted,
            Err(AttemptError::Failed(mut failure)) => {
                if attempt >= max || !failure.retryable() {
                    core.telemetry().node_failed(bp, &label);
                    core.log().error(
                        &format!("Node '{node}' failed after {attempt} attempt(s): {}", failure.message),
                        json!({"runId": run, "blueprintId": bp, "nodeId": node, "attempt": attempt, "error": failure.message}),
                    );
                    core.emit(
                        EventKind::NodeError,
                        run,
                        bp,
                        Some(node),
                        Some(attempt),
                        || json!({"error": failure.message, "stack": failure.stack, "fatal": failure.fatal}),
                    );
                    return AttemptsOutcome::Exhausted {
                        failure,
                        attempts: attempt,
                    };
                }
                core.telemetry().node_retried(bp, &label);
                core.log().warn(
                    &format!("Node '{node}' attempt {attempt} of {max} failed, retrying: {}", failure.message),
                    json!({"runId": run, "blueprintId": bp, "nodeId": node, "attempt": attempt, "error": failure.message}),
                );
                core.emit(
                    EventKind::NodeRetry,
                    run,
                    bp,
                    Some(node),
                    Some(attempt),
                    || json!({"error": failure.message}),
                );
                // One too large to store makes the next attempt run `prep` again.
                let prepared = failure.prepared.take();
                if let Some(prepared) = prepared.filter(|p| value_problem("prep", p).is_none()) {
                    current.to_mut().prepared = Some(*prepared);
                }
                if policy.retry_delay_ms > 0 {
                    if !inline_delays {
                        return AttemptsOutcome::RetryLater {
                            next_attempt: attempt + 1,
                            at_ms: core.now_ms() + policy.retry_delay_ms,
                            prepared: current.into_owned().prepared,
                        };
                    }
                    tokio::time::sleep(Duration::from_millis(policy.retry_delay_ms)).await;
                }
                attempt += 1;
            }
        }
    }
}
