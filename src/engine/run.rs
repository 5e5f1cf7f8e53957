//! A run's status, its published results and what a waiter receives.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Awaiting,
    Completed,
    Failed,
    /// Ended through `cancel`: final, and nothing of the run runs afterwards.
    Cancelled,
}

impl RunStatus {
    /// Completed, failed and cancelled are final: a run has exactly one.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }

    /// The status `as_str` names.
    pub fn parse(text: &str) -> Option<Self> {
        [
            RunStatus::Running,
            RunStatus::Awaiting,
            RunStatus::Completed,
            RunStatus::Failed,
            RunStatus::Cancelled,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Awaiting => "awaiting",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

/// The node whose failure failed a run (FlowRuntime's `errors[]` entry names it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedNode {
    pub node_id: String,
    /// Its error was fatal (`isFatal: true`, an unknown implementation, a version
    /// mismatch): no attempt or fallback could have saved it.
    #[serde(default)]
    pub fatal: bool,
}

/// Why a run fails: the reason said to people, and the node, when one failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFailure {
    pub reason: String,
    pub node: Option<FailedNode>,
}

impl RunFailure {
    /// A failure of no node (a blueprint the reconciler does not know, ...).
    pub fn of_run(reason: String) -> Self {
        Self { reason, node: None }
    }

    pub fn of_node(reason: String, node_id: &str, fatal: bool) -> Self {
        let node = Some(FailedNode {
            node_id: node_id.to_string(),
            fatal,
        });
        Self { reason, node }
    }
}

/// One result a run published (awaiting, then the final one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedResult {
    pub status: RunStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A failed run's failed node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_node: Option<FailedNode>,
    /// The run's context when it completed (the reference's `payload.context`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Map<String, Value>>,
    pub published_at_ms: u64,
}

/// The status row of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub status: RunStatus,
    /// The latest published result's JSON (`status_data`), if any.
    pub status_data: Option<PublishedResult>,
    pub updated_at_ms: u64,
}

/// What `Engine::wait_for_run` returns.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub run_id: String,
    pub status: RunStatus,
    pub context: Map<String, Value>,
    pub reason: Option<String>,
    /// A failed run's failed node.
    pub failed_node: Option<FailedNode>,
    /// When the result was published (milliseconds since 1970).
    pub published_at_ms: u64,
}

/// Which `blueprintVersion` the client seeds (T8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum VersionSeed {
    /// `metadata.version || null`, as Flowcraft's client.
    #[default]
    FromBlueprint,
    /// An explicit value (`None` seeds `null`).
    Explicit(Option<String>),
    /// No `blueprintVersion` key at all.
    Omit,
}

/// What `start_run` does with a given run id that names an existing run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IfRunExists {
    /// Refuse with `RunExists`; nothing is written.
    #[default]
    Refuse,
    /// Start again: the seed is written over the stored context and the start nodes are
    /// enqueued again (a subflow's child started again after a redelivery).
    Overwrite,
}

/// Options of `Engine::start_run`.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    pub run_id: Option<String>,
    /// Only read with a `run_id`: a new id names no run.
    pub if_exists: IfRunExists,
    pub version: VersionSeed,
    /// Start the run at this instant (ms since epoch) instead of now.
    pub at_ms: Option<u64>,
    /// The job starting this run (a subflow's): the start jobs' ids derive from it, so a
    /// redelivery of that job starts the same jobs. None: random ids.
    pub start_job_origin: Option<String>,
    /// The caller's trace (from its `traceparent`): the run continues it. None: the run
    /// continues the trace of the job being handled (a subflow's), else starts one.
    pub trace: Option<crate::engine::trace::JobRefs>,
    /// Refuse the run when its blueprint has a cycle (FlowRuntime's `strict` run option).
    pub strict: bool,
}
