//! Flowcraft's built-in nodes, implemented natively.

pub mod batch;
pub mod loop_controller;
pub mod sleep;
pub mod subflow;
pub mod subflow_pause;
pub mod wait;

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::engine::analysis::BlueprintPlan;
use crate::engine::blueprint::NodeDefinition;
use crate::engine::job::Job;
use crate::engine::shared::EngineCore;
use crate::engine::step::NodeStep;

pub const WAIT: &str = "wait";
pub const SLEEP: &str = "sleep";
pub const SUBFLOW: &str = "subflow";
pub const BATCH_SCATTER: &str = "batch-scatter";
pub const BATCH_GATHER: &str = "batch-gather";
pub const LOOP_CONTROLLER: &str = "loop-controller";

pub fn is_builtin(uses: &str) -> bool {
    matches!(
        uses,
        WAIT | SLEEP | SUBFLOW | BATCH_SCATTER | BATCH_GATHER | LOOP_CONTROLLER
    )
}

/// What a built-in sees.
pub struct BuiltinCall<'a> {
    pub core: &'a EngineCore,
    pub plan: &'a Arc<BlueprintPlan>,
    pub job: &'a Job,
    pub node: &'a NodeDefinition,
    pub input: Option<Value>,
    pub context: &'a Map<String, Value>,
}

/// A built-in's error: the node fails (its fallback may apply).
pub type BuiltinResult = Result<NodeStep, String>;

pub async fn execute(call: BuiltinCall<'_>) -> BuiltinResult {
    match call.node.uses.as_str() {
        WAIT => Ok(wait::execute(&call)),
        SLEEP => sleep::execute(&call),
        SUBFLOW => subflow::execute(&call).await,
        BATCH_SCATTER => batch::scatter(&call),
        BATCH_GATHER => Ok(batch::gather(&call)),
        LOOP_CONTROLLER => Ok(loop_controller::execute(&call).await),
        other => Err(format!("Implementation for '{other}' not found.")),
    }
}

/// Continues a paused built-in (a `Wake` job).
pub async fn wake(call: BuiltinCall<'_>) -> BuiltinResult {
    match call.node.uses.as_str() {
        SLEEP => Ok(sleep::wake(&call)),
        SUBFLOW => subflow::wake(&call).await,
        other => Err(format!("'{other}' cannot be woken")),
    }
}
