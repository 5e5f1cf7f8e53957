//! What handling a node produced, before its effects are recorded.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::job::{DynamicNode, Job};
use crate::engine::traits::ContextOp;

/// A node finished: record its output and route. Stored as the job's accepted result
/// (see `lifecycle::accept`), so a body run again after a crash cannot record another.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    pub output: Option<Value>,
    pub action: Option<String>,
    /// Context writes (the node's own, `_catch_error`, built-in keys).
    pub ops: Vec<ContextOp>,
    /// Batch workers to start (first chunk).
    pub workers: Vec<DynamicNode>,
    /// The `node:finish` to announce once this completion is accepted (not stored: only
    /// the handling that records the result announces it).
    #[serde(skip)]
    pub finished: Option<FinishNotice>,
}

/// Which node (and attempt) a completion finishes, for its `node:finish` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishNotice {
    pub node_id: String,
    pub attempt: u32,
}

impl FinishNotice {
    pub fn new(node_id: impl Into<String>, attempt: u32) -> Self {
        Self {
            node_id: node_id.into(),
            attempt,
        }
    }
}

impl Completion {
    pub fn output(output: Option<Value>) -> Self {
        Self {
            output,
            ..Self::default()
        }
    }
}

/// How a paused node continues.
#[derive(Debug, Clone)]
pub enum Continuation {
    /// A job delivered by the timer (sleep wake-up, delayed retry).
    At { at_ms: u64, job: Box<Job> },
    /// Something else holds the token (a child run); nothing to schedule.
    External,
}

#[derive(Debug, Clone)]
pub enum NodeStep {
    Completed(Completion),
    /// A `wait` node: the run pauses until `resume_with_action`.
    Awaiting {
        ops: Vec<ContextOp>,
    },
    /// Paused on something durable.
    Deferred {
        ops: Vec<ContextOp>,
        continuation: Continuation,
    },
    /// Failed for good; `reason` names the node and its error; `fatal` when nothing
    /// (no attempt, no fallback) could have saved it.
    Failed {
        reason: String,
        fatal: bool,
    },
    /// Shutdown aborted the node: hand the job back for redelivery.
    Interrupted,
}
