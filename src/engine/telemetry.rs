//! What the engine reports for metrics. The engine only calls these hooks; a backend
//! (`crate::metrics`) turns them into Prometheus families. Every hook has a no-op
//! default, so an engine without metrics pays one virtual call per event.

use std::time::Duration;

/// How the worker finished with one delivered job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// Handled: its effects are recorded.
    Done,
    /// Not handled this time (a backend error, shutdown): delivered again later.
    Redelivered,
    /// A copy of a job already handled (or of a run already final): nothing ran.
    DuplicateSkipped,
    /// Not a job this worker can handle: set aside (Kafka: the error topic).
    Rejected,
}

impl JobOutcome {
    pub fn label(self) -> &'static str {
        match self {
            JobOutcome::Done => "done",
            JobOutcome::Redelivered => "redelivered",
            JobOutcome::DuplicateSkipped => "duplicate_skipped",
            JobOutcome::Rejected => "rejected",
        }
    }
}

pub trait Telemetry: Send + Sync {
    /// A run was started by this process (`startRun`, a subflow's child, a reference job).
    fn run_started(&self, _blueprint_id: &str) {}
    /// A run settled as `completed`, `failed` or `cancelled` here.
    fn run_finished(&self, _blueprint_id: &str, _status: &str) {}
    /// A run paused on a `wait` (+1) or was resumed (-1). Summed over every process of
    /// a deployment this is the number of runs awaiting a resume.
    fn runs_awaiting_changed(&self, _delta: i64) {}
    /// One call of a node's implementation (one attempt), however it ended.
    fn node_ran(&self, _blueprint_id: &str, _node_id: &str, _took: Duration) {}
    /// From a job's publication (its predecessor's end) to its node's start.
    fn hop(&self, _blueprint_id: &str, _waited: Duration) {}
    /// A node attempt failed and another will follow.
    fn node_retried(&self, _blueprint_id: &str, _node_id: &str) {}
    /// A node failed for good (its last attempt, no fallback).
    fn node_failed(&self, _blueprint_id: &str, _node_id: &str) {}
    /// A job began (+1) or ended (-1) its handling on this worker.
    fn jobs_in_flight_changed(&self, _delta: i64) {}
    fn job_handled(&self, _outcome: JobOutcome) {}
    /// An error with a stable code (`ERR_*`) met while receiving or handling a job.
    fn error(&self, _code: &str) {}
}

/// The telemetry of engines nobody measures.
pub struct NoTelemetry;

impl Telemetry for NoTelemetry {}
