//! When this process last renewed a run hash's TTL and progress stamp, so that a hop
//! need not renew them again: a chain of 20 hops renews once instead of 20 times.
//!
//! Skipping is safe because a finish script skips only when it found its own token in
//! the hash: the hash existed, so some write gave it a TTL (every script that writes
//! sets one), renewed by this process at most `RENEW_EVERY` ago or by another writer
//! since. The progress stamp lags the run's last change by at most `RENEW_EVERY`, far
//! below any reconciler threshold worth setting (seconds).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How stale a run's TTL renewal and progress stamp may get while the run moves.
pub const RENEW_EVERY: Duration = Duration::from_millis(250);

/// Past this many runs, entries older than `RENEW_EVERY` (useless: they renew) go.
const TRACKED_RUNS: usize = 8_192;

#[derive(Default)]
pub struct Renewals {
    last: Mutex<HashMap<String, Instant>>,
}

impl Renewals {
    /// Whether a write to `run_id`'s hash now must renew it; if so, counts it as renewed.
    pub fn due(&self, run_id: &str) -> bool {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = last.get(run_id) {
            if now.duration_since(*at) < RENEW_EVERY {
                return false;
            }
        }
        if last.len() >= TRACKED_RUNS {
            last.retain(|_, at| now.duration_since(*at) < RENEW_EVERY);
        }
        last.insert(run_id.to_string(), now);
        true
    }

    /// The run's hash is gone (forgotten): its next write renews.
    pub fn forget(&self, run_id: &str) {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).remove(run_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_renews_once_per_interval_and_again_after_it_is_forgotten() {
        let renewals = Renewals::default();
        assert!(renewals.due("r"));
        assert!(!renewals.due("r"));
        assert!(renewals.due("other"));
        renewals.forget("r");
        assert!(renewals.due("r"));
        std::thread::sleep(RENEW_EVERY);
        assert!(renewals.due("r"));
    }
}
