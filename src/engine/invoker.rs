//! How the engine calls a user node (a JavaScript function, through the
//! bindings) and what the node gives back.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::engine::abort::AbortSignal;
use crate::engine::traits::{BoxFuture, ContextOp};

/// Everything a node sees (Flowcraft's `NodeContext`).
#[derive(Debug, Clone)]
pub struct NodeCall {
    pub run_id: String,
    pub blueprint_id: String,
    pub node_id: String,
    pub uses: String,
    /// 1-based.
    pub attempt: u32,
    /// No retry follows this attempt (a class node's own `fallback()` may run).
    pub last_attempt: bool,
    pub input: Option<Value>,
    /// A class node's `prep` result from an earlier attempt: `prep` runs once per
    /// execution, only `exec` is retried (Flowcraft's `ClassNodeExecutor`).
    pub prepared: Option<Value>,
    pub params: Value,
    /// The run's context as the job loaded it (plus `_catch_error` for a fallback).
    pub context: Arc<Map<String, Value>>,
    /// Fires on the attempt's timeout and on shutdown.
    pub abort: AbortSignal,
    /// The node's span in its run's trace (`ctx.trace`).
    pub trace: Option<crate::engine::trace::NodeTrace>,
}

/// A node's `NodeResult`, with the context writes it made.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeReturn {
    pub output: Option<Value>,
    pub action: Option<String>,
    /// Applied by the engine in the same batch as the node's output.
    pub context_ops: Vec<ContextOp>,
    /// `dynamicNodes` as returned (node definitions as JSON).
    pub dynamic_nodes: Option<Vec<Value>>,
}

/// A thrown error.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeFailure {
    pub message: String,
    pub stack: Option<String>,
    /// No attempt follows, whatever `maxRetries` says: a class node's `prep` or `post`
    /// threw (Flowcraft retries `exec` only). The node's fallback still applies.
    pub last: bool,
    /// A fatal `FlowcraftError` (`isFatal: true`): no attempt follows and no fallback runs.
    pub fatal: bool,
    /// What the class node's `prep` returned, for the next attempt (see `NodeCall`);
    /// boxed: failures travel in `Result`s, kept small.
    pub prepared: Option<Box<Value>>,
}

impl NodeFailure {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            ..Self::default()
        }
    }

    /// Whether another attempt may follow this one.
    pub fn retryable(&self) -> bool {
        !self.last && !self.fatal
    }
}

pub trait NodeInvoker: Send + Sync {
    /// Whether a user implementation exists for `uses` (user entries
    /// override built-ins of the same name, as in Flowcraft).
    fn has(&self, uses: &str) -> bool;
    fn invoke(&self, call: NodeCall) -> BoxFuture<'static, Result<NodeReturn, NodeFailure>>;
}
