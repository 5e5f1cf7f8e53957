//! One JS function fed from any thread: items are queued, and a single threadsafe
//! function hop delivers everything queued meanwhile as one JSON array. A sequential hop
//! costs ~77 µs; carrying many items per hop raises the ceiling about twentyfold.
//!
//! Items are serialised by the thread that queues them, straight into the batch text:
//! the JS thread, the one every call shares, only takes the finished string.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Env;
use serde::Serialize;

/// The threadsafe function behind a batch, strong (keeps Node alive) or weak.
trait Hop: Send + Sync {
    fn schedule(&self) -> Status;
}

impl<const WEAK: bool> Hop for ThreadsafeFunction<(), (), String, Status, false, WEAK> {
    fn schedule(&self) -> Status {
        self.call((), ThreadsafeFunctionCallMode::NonBlocking)
    }
}

struct Queue {
    /// The items queued since the last hop, as the inside of a JSON array.
    items: Mutex<String>,
    hop_scheduled: AtomicBool,
}

pub struct BatchedJsCall {
    queue: Arc<Queue>,
    hop: Mutex<Option<Arc<dyn Hop>>>,
}

impl BatchedJsCall {
    /// `function(batchJson)` is called on the JS thread. With `keep_alive` false, pending
    /// items do not keep the Node process running.
    pub fn new(env: &Env, function: Function<String, ()>, keep_alive: bool) -> Result<Self> {
        let queue = Arc::new(Queue {
            items: Mutex::new(String::new()),
            hop_scheduled: AtomicBool::new(false),
        });
        let drained = Arc::clone(&queue);
        let drain = move |_ctx: ThreadsafeCallContext<()>| {
            // Clear the flag before draining: an item queued after the drain schedules
            // its own hop; one queued before it rides on this one.
            drained.hop_scheduled.store(false, Ordering::SeqCst);
            let items = match drained.items.lock() {
                Ok(mut items) => std::mem::take(&mut *items),
                Err(_) => String::new(),
            };
            let mut batch = String::with_capacity(items.len() + 2);
            batch.push('[');
            batch.push_str(&items);
            batch.push(']');
            Ok(batch)
        };
        let builder = function
            .build_threadsafe_function::<()>()
            .callee_handled::<false>();
        let hop: Arc<dyn Hop> = if keep_alive {
            Arc::new(builder.weak::<false>().build_callback(drain)?)
        } else {
            Arc::new(builder.weak::<true>().build_callback(drain)?)
        };
        let _ = env;
        Ok(BatchedJsCall {
            queue,
            hop: Mutex::new(Some(hop)),
        })
    }

    /// Queues `item` for the JS function. Fails once `close()` was called, or when
    /// `item` cannot be written as JSON.
    pub fn push<T: Serialize + ?Sized>(&self, item: &T) -> std::result::Result<(), String> {
        let text = serde_json::to_string(item).map_err(|e| format!("the call is not JSON: {e}"))?;
        if let Ok(mut items) = self.queue.items.lock() {
            if !items.is_empty() {
                items.push(',');
            }
            items.push_str(&text);
        }
        if self.queue.hop_scheduled.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let hop = self.hop.lock().ok().and_then(|hop| hop.clone());
        let Some(hop) = hop else {
            self.queue.hop_scheduled.store(false, Ordering::SeqCst);
            return Err("closed".into());
        };
        match hop.schedule() {
            Status::Ok => Ok(()),
            status => {
                self.queue.hop_scheduled.store(false, Ordering::SeqCst);
                Err(format!("the JS thread is not reachable ({status})"))
            }
        }
    }

    /// Releases the threadsafe function, so it no longer keeps Node alive.
    pub fn close(&self) {
        if let Ok(mut hop) = self.hop.lock() {
            hop.take();
        }
    }
}
