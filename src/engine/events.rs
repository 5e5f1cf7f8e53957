//! Lifecycle events. Emitting is free when nobody listens: callers check
//! `is_enabled()` before building an event.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    RunStart,
    /// Once per attempt.
    NodeStart,
    NodeFinish,
    NodeRetry,
    NodeError,
    /// A condition on an edge was evaluated (`source`, `target`, `condition`, `result`).
    EdgeEvaluate,
    /// An edge whose condition did not hold was not followed (`edge`).
    NodeSkipped,
    /// A batch scatter started its workers (`batchId`, `scatterNodeId`, `workerNodeIds`).
    BatchStart,
    /// A batch gather collected its workers' outputs (`batchId`, `gatherNodeId`, `results`).
    BatchFinish,
    /// A node's handling wrote a context key (`key`, `op`, `value`).
    ContextChange,
    /// A failed node's `config.fallback` runs in its place.
    NodeFallback,
    /// The run published `awaiting` (a `wait` node, or a paused subflow).
    RunPause,
    /// A waiting run was resumed.
    RunResume,
    RunFinish,
}

impl EventKind {
    pub const ALL: [EventKind; 14] = [
        EventKind::RunStart,
        EventKind::NodeStart,
        EventKind::NodeFinish,
        EventKind::NodeRetry,
        EventKind::NodeError,
        EventKind::EdgeEvaluate,
        EventKind::NodeSkipped,
        EventKind::BatchStart,
        EventKind::BatchFinish,
        EventKind::ContextChange,
        EventKind::NodeFallback,
        EventKind::RunPause,
        EventKind::RunResume,
        EventKind::RunFinish,
    ];

    /// This kind's bit in a set of kinds (see `EventSink::wants`).
    pub fn bit(self) -> u32 {
        1 << (self as u32)
    }

    pub fn name(self) -> &'static str {
        match self {
            EventKind::RunStart => "run:start",
            EventKind::NodeStart => "node:start",
            EventKind::NodeFinish => "node:finish",
            EventKind::NodeRetry => "node:retry",
            EventKind::NodeError => "node:error",
            EventKind::EdgeEvaluate => "edge:evaluate",
            EventKind::NodeSkipped => "node:skipped",
            EventKind::BatchStart => "batch:start",
            EventKind::BatchFinish => "batch:finish",
            EventKind::ContextChange => "context:change",
            EventKind::NodeFallback => "node:fallback",
            EventKind::RunPause => "run:pause",
            EventKind::RunResume => "run:resume",
            EventKind::RunFinish => "run:finish",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EngineEvent {
    pub kind: EventKind,
    pub run_id: String,
    pub blueprint_id: String,
    pub node_id: Option<String>,
    pub attempt: Option<u32>,
    pub timestamp_ms: u64,
    /// Extra data: input on start, output/action on finish, error on error/retry, the
    /// fallback's id on fallback, status, reason and failed node on run:finish.
    pub data: Value,
}

pub trait EventSink: Send + Sync {
    /// False when nobody listens; the engine then builds no event.
    fn is_enabled(&self) -> bool;
    /// Whether anyone listens to `kind` (by default, to anything).
    fn wants(&self, kind: EventKind) -> bool {
        let _ = kind;
        self.is_enabled()
    }
    fn emit(&self, event: EngineEvent);
}

/// The sink for engines without listeners.
pub struct NoEvents;

impl EventSink for NoEvents {
    fn is_enabled(&self) -> bool {
        false
    }
    fn emit(&self, _event: EngineEvent) {}
}
