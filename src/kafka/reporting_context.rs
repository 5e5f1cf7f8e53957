//! A client context that remembers librdkafka's last error, because the useful text
//! ("Connect to ipv4#127.0.0.1:1 failed: Connection refused") arrives only through
//! this hook, never through the failing call itself.

use std::sync::{Arc, Mutex};

use rdkafka::client::ClientContext;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError as RdKafkaError;

/// Cheap to clone: clones share one slot, so a handle kept outside a client reads what
/// the client's own copy recorded.
#[derive(Default, Clone)]
pub struct ReportingContext {
    last_error: Arc<Mutex<Option<String>>>,
}

impl ReportingContext {
    /// The most recent error librdkafka reported, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }
}

impl ClientContext for ReportingContext {
    fn error(&self, error: RdKafkaError, reason: &str) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(if reason.is_empty() {
                error.to_string()
            } else {
                reason.to_string()
            });
        }
    }
}

impl ConsumerContext for ReportingContext {}
