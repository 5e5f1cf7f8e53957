//! An event sink that keeps every event (for tests and offline runs).

use std::sync::Mutex;

use crate::engine::events::{EngineEvent, EventKind, EventSink};

#[derive(Default)]
pub struct RecordingEventSink {
    events: Mutex<Vec<EngineEvent>>,
}

impl RecordingEventSink {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn events(&self) -> Vec<EngineEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Events of one kind whose run id is `run_id` or a child run of it.
    pub fn of_kind_in_run(&self, kind: EventKind, run_id: &str) -> Vec<EngineEvent> {
        let child_prefix = format!("{run_id}/");
        self.events()
            .into_iter()
            .filter(|e| e.kind == kind && (e.run_id == run_id || e.run_id.starts_with(&child_prefix)))
            .collect()
    }
}

impl EventSink for RecordingEventSink {
    fn is_enabled(&self) -> bool {
        true
    }

    fn emit(&self, event: EngineEvent) {
        if let Ok(mut events) = self.events.lock() {
            events.push(event);
        }
    }
}
