//! `JsEventSink`: engine events to JS listeners, free when nobody listens.

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Map, Value};

use super::batched_call::BatchedJsCall;
use crate::engine::events::{EngineEvent, EventKind, EventSink};

pub struct JsEventSink {
    /// The kinds someone listens to, one bit each (`EventKind::bit`): events of other
    /// kinds are never built.
    wanted: AtomicU32,
    batch: BatchedJsCall,
}

impl JsEventSink {
    pub fn new(batch: BatchedJsCall) -> Self {
        JsEventSink {
            wanted: AtomicU32::new(0),
            batch,
        }
    }

    /// What the JS runtime says is listened to: `*` (an event bus: everything), else the
    /// event names with listeners, comma-separated.
    pub fn set_listened(&self, names: &str) {
        let wanted = EventKind::ALL
            .iter()
            .filter(|kind| names == "*" || names.split(',').any(|name| name == kind.name()))
            .fold(0, |bits, kind| bits | kind.bit());
        self.wanted.store(wanted, Ordering::SeqCst);
    }

    pub fn close(&self) {
        self.batch.close();
    }
}

impl EventSink for JsEventSink {
    fn is_enabled(&self) -> bool {
        self.wanted.load(Ordering::Relaxed) != 0
    }

    fn wants(&self, kind: EventKind) -> bool {
        self.wanted.load(Ordering::Relaxed) & kind.bit() != 0
    }

    fn emit(&self, event: EngineEvent) {
        let mut object = Map::new();
        object.insert("type".into(), event.kind.name().into());
        object.insert("runId".into(), event.run_id.into());
        object.insert("blueprintId".into(), event.blueprint_id.into());
        if let Some(node_id) = event.node_id {
            object.insert("nodeId".into(), node_id.into());
        }
        if let Some(attempt) = event.attempt {
            object.insert("attempt".into(), attempt.into());
        }
        object.insert("timestamp".into(), event.timestamp_ms.into());
        if let Value::Object(data) = event.data {
            for (key, value) in data {
                object.entry(key).or_insert(value);
            }
        }
        // Events are best effort: a closed sink means the adapter stopped.
        let _ = self.batch.push(&object);
    }
}
