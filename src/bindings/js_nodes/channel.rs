//! Calls into JS that answer later: each gets an id, and `node_runtime.js` answers
//! through the native `complete(callId, json)` on the JS thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

#[derive(Clone, Default)]
pub struct ReplyChannel {
    pending: Arc<Mutex<HashMap<i64, oneshot::Sender<String>>>>,
    next_id: Arc<AtomicI64>,
}

impl ReplyChannel {
    /// A new call id and the receiver its answer (raw JSON) will arrive on.
    pub fn open(&self) -> (i64, oneshot::Receiver<String>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (sender, receiver) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(id, sender);
        }
        (id, receiver)
    }

    pub fn answer(&self, id: i64, json: String) {
        let sender = self.pending.lock().ok().and_then(|mut p| p.remove(&id));
        if let Some(sender) = sender {
            let _ = sender.send(json);
        }
    }

    pub fn forget(&self, id: i64) {
        self.pending.lock().ok().and_then(|mut p| p.remove(&id));
    }

    /// Drops every waiting call; their receivers see the channel closed.
    pub fn close_all(&self) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.clear();
        }
    }
}
