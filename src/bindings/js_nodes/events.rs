//! `JsEventSink`: engine events to JS listeners, free when nobody listens.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Map, Value};

use super::batched_call::BatchedJsCall;
use crate::engine::events::{EngineEvent, EventSink};

pub struct JsEventSink {
    listeners: AtomicUsize,
    batch: BatchedJsCall,
}

impl JsEventSink {
    pub fn new(batch: BatchedJsCall) -> Self {
        JsEventSink {
            listeners: AtomicUsize::new(0),
            batch,
        }
    }

    pub fn set_listener_count(&self, count: usize) {
        self.listeners.store(count, Ordering::SeqCst);
    }

    pub fn close(&self) {
        self.batch.close();
    }
}

impl EventSink for JsEventSink {
    fn is_enabled(&self) -> bool {
        self.listeners.load(Ordering::Relaxed) > 0
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
