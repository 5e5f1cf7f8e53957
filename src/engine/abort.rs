//! A cancellation signal shaped like the DOM `AbortSignal`: it fires once,
//! on a timeout or on shutdown, and runs its listeners synchronously so a
//! binding can forward it to a JS `AbortController` at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

type Listener = Box<dyn FnOnce(&str) + Send>;

#[derive(Default)]
struct AbortInner {
    aborted: AtomicBool,
    reason: Mutex<Option<String>>,
    listeners: Mutex<Vec<(u64, Listener)>>,
    next_id: AtomicU64,
    notify: Notify,
}

/// Cheap to clone; all clones observe the same abort.
#[derive(Clone, Default)]
pub struct AbortSignal {
    inner: Arc<AbortInner>,
}

impl std::fmt::Debug for AbortSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AbortSignal")
            .field("aborted", &self.is_aborted())
            .finish()
    }
}

/// Removes its listener when dropped (like `removeEventListener`).
pub struct AbortListener {
    signal: AbortSignal,
    id: u64,
}

impl Drop for AbortListener {
    fn drop(&mut self) {
        if let Ok(mut listeners) = self.signal.inner.listeners.lock() {
            listeners.retain(|(id, _)| *id != self.id);
        }
    }
}

impl AbortSignal {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_aborted(&self) -> bool {
        self.inner.aborted.load(Ordering::SeqCst)
    }

    pub fn reason(&self) -> Option<String> {
        self.inner.reason.lock().ok().and_then(|r| r.clone())
    }

    /// Fires the signal once; later calls do nothing.
    pub fn abort(&self, reason: &str) {
        if self.inner.aborted.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Ok(mut r) = self.inner.reason.lock() {
            *r = Some(reason.to_string());
        }
        let listeners = match self.inner.listeners.lock() {
            Ok(mut l) => std::mem::take(&mut *l),
            Err(_) => Vec::new(),
        };
        for (_, listener) in listeners {
            listener(reason);
        }
        self.inner.notify.notify_waiters();
    }

    /// Registers a listener; runs it now if the signal already fired.
    pub fn on_abort(&self, listener: impl FnOnce(&str) + Send + 'static) -> AbortListener {
        let id = self.inner.next_id.fetch_add(1, Ordering::SeqCst);
        if self.is_aborted() {
            listener(&self.reason().unwrap_or_default());
        } else if let Ok(mut l) = self.inner.listeners.lock() {
            l.push((id, Box::new(listener)));
        }
        AbortListener {
            signal: self.clone(),
            id,
        }
    }

    /// Resolves when the signal fires.
    pub async fn aborted(&self) {
        loop {
            let notified = self.inner.notify.notified();
            if self.is_aborted() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn fires_listeners_once_and_wakes_waiters() {
        let signal = AbortSignal::new();
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        let _guard = signal.on_abort(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        });
        let waiter = tokio::spawn({
            let s = signal.clone();
            async move { s.aborted().await }
        });
        tokio::task::yield_now().await;
        signal.abort("timed out");
        signal.abort("again");
        waiter.await.unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert_eq!(signal.reason().as_deref(), Some("timed out"));
    }

    #[test]
    fn dropped_listener_is_not_called() {
        let signal = AbortSignal::new();
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        drop(signal.on_abort(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        }));
        signal.abort("x");
        assert_eq!(count.load(Ordering::SeqCst), 0);
    }
}
