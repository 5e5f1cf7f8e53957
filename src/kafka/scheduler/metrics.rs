//! Counters of the timer service, readable at any time without a lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct SchedulerMetrics {
    /// Valid schedules read (new or replacing), including those re-read after a
    /// restart or a rebalance.
    pub planned: AtomicU64,
    /// Schedules that replaced a pending one with the same key.
    pub replaced: AtomicU64,
    /// Schedules delivered to their target (each commit counted once).
    pub fired: AtomicU64,
    /// Of `fired`, those delivered later than due + grace.
    pub late: AtomicU64,
    /// Messages that are not valid schedules (never fired).
    pub invalid: AtomicU64,
    /// Pending schedules removed by a tombstone.
    pub cancelled: AtomicU64,
    /// Fire attempts that failed and were retried.
    pub fire_errors: AtomicU64,
    last_invalid: Mutex<Option<String>>,
}

/// A point-in-time copy, plus the gauges the service adds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedulerSnapshot {
    pub planned: u64,
    pub replaced: u64,
    pub fired: u64,
    pub late: u64,
    pub invalid: u64,
    pub cancelled: u64,
    pub fire_errors: u64,
    /// Timers waiting now on this worker.
    pub pending: u64,
    /// Schedules-topic partitions this worker owns, and how many are still being read
    /// from the beginning (their timers do not fire until read to the end).
    pub partitions: u64,
    pub loading_partitions: u64,
    pub last_invalid: Option<String>,
    /// librdkafka's most recent error from the service's clients.
    pub last_error: Option<String>,
}

impl SchedulerMetrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn record_invalid(&self, reason: String) {
        Self::add(&self.invalid, 1);
        if let Ok(mut last) = self.last_invalid.lock() {
            *last = Some(reason);
        }
    }

    pub fn snapshot(&self) -> SchedulerSnapshot {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SchedulerSnapshot {
            planned: read(&self.planned),
            replaced: read(&self.replaced),
            fired: read(&self.fired),
            late: read(&self.late),
            invalid: read(&self.invalid),
            cancelled: read(&self.cancelled),
            fire_errors: read(&self.fire_errors),
            last_invalid: self.last_invalid.lock().ok().and_then(|l| l.clone()),
            ..Default::default()
        }
    }
}
