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
    RunFinish,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::RunStart => "run:start",
            EventKind::NodeStart => "node:start",
            EventKind::NodeFinish => "node:finish",
            EventKind::NodeRetry => "node:retry",
            EventKind::NodeError => "node:error",
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
    /// Extra data: output/action on finish, error on error/retry, status on run:finish.
    pub data: Value,
}

pub trait EventSink: Send + Sync {
    /// False when nobody listens; the engine then builds no event.
    fn is_enabled(&self) -> bool;
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
