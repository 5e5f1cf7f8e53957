//! Which consumed offsets are finished, per partition, and so how far each partition
//! may be committed: up to (not including) the lowest unfinished offset, or one past
//! the highest finished one when nothing is unfinished. Never further.
//!
//! Also keeps, per receipt, the job and its position (to redeliver it after a
//! `Redeliver` acknowledgement with backoff) and forgets a partition's receipts when
//! the partition is revoked, so late acknowledgements from the old owner's jobs are
//! ignored.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::engine::job::Job;
use crate::engine::traits::DeliveryReceipt;

const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Entry {
    pub partition: i32,
    pub offset: i64,
    /// `None` for a message that is being dead-lettered.
    pub job: Option<Job>,
    /// `Redeliver` acknowledgements so far.
    pub redeliveries: u32,
    /// The message as consumed, kept so an engine rejection can dead-letter the original
    /// rather than a re-encoding.
    pub original: Option<Original>,
}

/// What a dead letter needs of a consumed message beyond its job.
#[derive(Debug, Clone, Default)]
pub struct Original {
    pub payload: Vec<u8>,
    /// `None` when the key is the job's run id, as every producer of ours writes it (kept
    /// only when it says more: a message written by someone else).
    pub key: Option<Option<Vec<u8>>>,
    pub headers: Vec<OriginalHeader>,
}

/// A header of a consumed message: its name and value (`None`: a null value).
pub type OriginalHeader = (String, Option<Vec<u8>>);

#[derive(Debug, Default)]
struct PartitionState {
    unfinished: BTreeSet<i64>,
    highest_finished: Option<i64>,
    /// The offset the group would resume from: the last committed one, or the first
    /// offset seen since the partition was assigned.
    committed: i64,
}

impl PartitionState {
    fn committable(&self) -> Option<i64> {
        let next = match self.unfinished.first() {
            Some(lowest) => *lowest,
            None => self.highest_finished? + 1,
        };
        (next > self.committed).then_some(next)
    }
}

#[derive(Debug, Default)]
pub struct Ledger {
    partitions: BTreeMap<i32, PartitionState>,
    entries: HashMap<u64, Entry>,
    /// Receipts waiting to be handed out again, by due time.
    due: Vec<(Instant, u64)>,
    next_receipt: u64,
}

impl Ledger {
    /// Keeps the consumed bytes of a tracked delivery.
    pub fn keep_original(&mut self, receipt: DeliveryReceipt, original: Original) {
        if let Some(entry) = self.entries.get_mut(&receipt.0) {
            entry.original = Some(original);
        }
    }

    /// Registers a consumed offset as unfinished and returns its receipt.
    pub fn track(&mut self, partition: i32, offset: i64, job: Option<Job>) -> DeliveryReceipt {
        let state = self
            .partitions
            .entry(partition)
            .or_insert_with(|| PartitionState {
                committed: offset,
                ..Default::default()
            });
        state.unfinished.insert(offset);
        self.next_receipt += 1;
        let receipt = self.next_receipt;
        self.entries.insert(
            receipt,
            Entry {
                partition,
                offset,
                job,
                redeliveries: 0,
                original: None,
            },
        );
        DeliveryReceipt(receipt)
    }

    pub fn entry(&self, receipt: DeliveryReceipt) -> Option<&Entry> {
        self.entries.get(&receipt.0)
    }

    /// Marks the receipt's offset finished. False when the receipt is unknown (its
    /// partition was revoked, or it was already finished).
    pub fn finish(&mut self, receipt: DeliveryReceipt) -> bool {
        let Some(entry) = self.entries.remove(&receipt.0) else {
            return false;
        };
        self.due.retain(|(_, r)| *r != receipt.0);
        if let Some(state) = self.partitions.get_mut(&entry.partition) {
            state.unfinished.remove(&entry.offset);
            state.highest_finished = Some(
                state
                    .highest_finished
                    .map_or(entry.offset, |h| h.max(entry.offset)),
            );
        }
        true
    }

    /// Schedules the receipt to be handed out again after a backoff that doubles with
    /// each redelivery. Its offset stays unfinished. Returns the entry (with its count of
    /// redeliveries so far), `None` for an unknown receipt.
    pub fn redeliver_later(&mut self, receipt: DeliveryReceipt, now: Instant) -> Option<&Entry> {
        let entry = self.entries.get_mut(&receipt.0)?;
        let delay = BACKOFF_FIRST
            .saturating_mul(1u32 << entry.redeliveries.min(16))
            .min(BACKOFF_MAX);
        entry.redeliveries += 1;
        self.due.push((now + delay, receipt.0));
        Some(entry)
    }

    /// Up to `max` receipts whose redelivery is due, oldest due first.
    pub fn take_due(&mut self, now: Instant, max: usize) -> Vec<(DeliveryReceipt, Job)> {
        self.due.sort_by_key(|(at, _)| *at);
        let ready = self.due.iter().take_while(|(at, _)| *at <= now).count().min(max);
        self.due
            .drain(..ready)
            .filter_map(|(_, r)| {
                let job = self.entries.get(&r)?.job.clone()?;
                Some((DeliveryReceipt(r), job))
            })
            .collect()
    }

    /// When the next redelivery falls due.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.iter().map(|(at, _)| *at).min()
    }

    /// Offsets that may be committed now (only partitions that moved).
    pub fn committable(&self) -> Vec<(i32, i64)> {
        self.partitions
            .iter()
            .filter_map(|(p, s)| s.committable().map(|o| (*p, o)))
            .collect()
    }

    /// Records a successful commit of `offsets`.
    pub fn committed(&mut self, offsets: &[(i32, i64)]) {
        for (partition, offset) in offsets {
            if let Some(state) = self.partitions.get_mut(partition) {
                state.committed = state.committed.max(*offset);
            }
        }
    }

    /// The offset each partition resumes from (for seeking back after an abort).
    pub fn resume_points(&self) -> Vec<(i32, i64)> {
        self.partitions.iter().map(|(p, s)| (*p, s.committed)).collect()
    }

    /// Forgets partitions (revoked, or rewound): their receipts become unknown.
    pub fn forget(&mut self, partitions: &[i32]) {
        for partition in partitions {
            self.partitions.remove(partition);
        }
        let entries = &mut self.entries;
        entries.retain(|_, e| !partitions.contains(&e.partition));
        self.due.retain(|(_, r)| entries.contains_key(r));
    }

    pub fn partitions(&self) -> Vec<i32> {
        self.partitions.keys().copied().collect()
    }

    /// Delivered and not finished, excluding those waiting for redelivery.
    pub fn in_flight(&self) -> usize {
        self.entries.len() - self.due.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Option<Job> {
        Some(Job::new("r", "bp", "a"))
    }

    #[test]
    fn commits_stop_below_the_lowest_unfinished_offset() {
        let mut ledger = Ledger::default();
        let receipts: Vec<_> = (10..15).map(|o| ledger.track(0, o, job())).collect();
        assert!(ledger.committable().is_empty());
        ledger.finish(receipts[1]);
        ledger.finish(receipts[3]);
        assert!(ledger.committable().is_empty(), "10 is unfinished");
        ledger.finish(receipts[0]);
        assert_eq!(ledger.committable(), vec![(0, 12)]);
        ledger.committed(&[(0, 12)]);
        assert!(ledger.committable().is_empty());
        ledger.finish(receipts[2]);
        ledger.finish(receipts[4]);
        assert_eq!(ledger.committable(), vec![(0, 15)]);
    }

    #[test]
    fn redelivery_keeps_the_offset_unfinished_and_backs_off() {
        let mut ledger = Ledger::default();
        let a = ledger.track(3, 0, job());
        let b = ledger.track(3, 1, job());
        let now = Instant::now();
        assert!(ledger.redeliver_later(a, now).is_some());
        ledger.finish(b);
        assert!(ledger.committable().is_empty());
        assert!(ledger.take_due(now, 10).is_empty());
        assert_eq!(ledger.take_due(now + Duration::from_millis(100), 10).len(), 1);
        assert!(ledger.redeliver_later(a, now).is_some());
        assert!(ledger.take_due(now + Duration::from_millis(150), 10).is_empty());
        assert_eq!(ledger.take_due(now + Duration::from_millis(200), 10).len(), 1);
        ledger.finish(a);
        assert_eq!(ledger.committable(), vec![(3, 2)]);
    }

    #[test]
    fn forgotten_partitions_ignore_late_acknowledgements() {
        let mut ledger = Ledger::default();
        let a = ledger.track(1, 5, job());
        let b = ledger.track(2, 9, job());
        ledger.forget(&[1]);
        assert!(!ledger.finish(a));
        assert!(ledger.finish(b));
        assert_eq!(ledger.committable(), vec![(2, 10)]);
        assert_eq!(ledger.partitions(), vec![2]);
    }
}
