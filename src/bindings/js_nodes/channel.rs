//! Calls into JS that answer later: each gets an id, and `node_runtime.js` answers
//! through the native `complete(batch)` on the JS thread (see `runtime`).

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

    /// Answers a batch from `node_runtime.js`: `callId \n json \n callId \n json ...`.
    pub fn answer_batch(&self, batch: &str) {
        let mut parts = batch.split('\n');
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        while let (Some(call_id), Some(json)) = (parts.next(), parts.next()) {
            let sender = call_id.parse::<i64>().ok().and_then(|id| pending.remove(&id));
            if let Some(sender) = sender {
                let _ = sender.send(json.to_string());
            }
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
