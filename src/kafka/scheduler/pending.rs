//! The pending timers of one schedules-topic partition.
//!
//! A binary heap of `(wake time, offset)` with lazy deletion, plus two maps: offset →
//! timer and key → offset. A heap rather than a timing wheel because due times are
//! arbitrary milliseconds spread from "now" to months ahead: the heap gives exact
//! order at O(log n) per timer (about 17 comparisons at 100k timers) with no tick and
//! no bucket sizing to tune, and nothing is scanned while waiting. Replaced and
//! cancelled timers leave a stale heap entry that is skipped when it surfaces; the
//! heap is rebuilt when stale entries outnumber live ones.
//!
//! A timer stays in the maps while it fires, flagged `firing`, so a cancel or a
//! replacement that arrives meanwhile is seen: a failed fire then does not bring back
//! a schedule the user has since cancelled or replaced.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use super::protocol::Schedule;

struct Pending {
    key: Arc<[u8]>,
    schedule: Schedule,
    /// When it is next due to fire: the due time, or later after a failed fire.
    wake_ms: u64,
    firing: bool,
    /// Failed fires in a row (each doubles the wait before the next try).
    failures: u32,
    /// A fire tombstone for an older schedule with this key came after this one: it
    /// must be written again, or compaction would let the tombstone cancel it.
    rewrite: bool,
}

/// A timer handed out to fire (or to be written again).
#[derive(Debug, Clone)]
pub struct Due {
    pub offset: i64,
    pub key: Arc<[u8]>,
    pub schedule: Schedule,
}

#[derive(Default)]
pub struct PartitionTimers {
    by_offset: HashMap<i64, Pending>,
    by_key: HashMap<Arc<[u8]>, i64>,
    queue: BinaryHeap<Reverse<(u64, i64)>>,
    rewrites: Vec<i64>,
}

/// What a schedule message did to the pending set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planned {
    New,
    /// It replaced a pending schedule with the same key.
    Replaced,
}

impl PartitionTimers {
    pub fn len(&self) -> usize {
        self.by_offset.len()
    }

    /// A schedule read at `offset`: it replaces any pending one with the same key.
    pub fn plan(&mut self, key: &[u8], offset: i64, schedule: Schedule) -> Planned {
        let replaced = self.remove_key(key);
        let key: Arc<[u8]> = Arc::from(key);
        self.queue.push(Reverse((schedule.due_ms, offset)));
        self.by_key.insert(key.clone(), offset);
        self.by_offset.insert(
            offset,
            Pending {
                key,
                wake_ms: schedule.due_ms,
                schedule,
                firing: false,
                failures: 0,
                rewrite: false,
            },
        );
        self.compact_if_stale();
        if replaced {
            Planned::Replaced
        } else {
            Planned::New
        }
    }

    /// A tombstone from a user (or an invalid message) for `key`: true when it
    /// cancelled a pending schedule.
    pub fn cancel(&mut self, key: &[u8]) -> bool {
        self.remove_key(key)
    }

    /// Our own tombstone, written after the schedule at `fired_offset` fired.
    pub fn fired_tombstone(&mut self, key: &[u8], fired_offset: i64) {
        let Some(&offset) = self.by_key.get(key) else {
            return;
        };
        if offset > fired_offset {
            // A newer schedule with this key: keep it, and write it again after the
            // tombstone so the log's last word for the key is the schedule.
            if let Some(pending) = self.by_offset.get_mut(&offset) {
                pending.rewrite = true;
                self.rewrites.push(offset);
            }
        } else {
            self.remove_key(key);
        }
    }

    /// The earliest wake time among timers not firing.
    pub fn next_wake(&mut self) -> Option<u64> {
        while let Some(&Reverse((wake, offset))) = self.queue.peek() {
            match self.by_offset.get(&offset) {
                Some(p) if !p.firing && p.wake_ms == wake => return Some(wake),
                _ => {
                    self.queue.pop();
                }
            }
        }
        None
    }

    /// Moves up to `max` timers due at `now_ms` into `out`, flagged firing.
    pub fn take_due(&mut self, now_ms: u64, max: usize, out: &mut Vec<Due>) {
        let limit = out.len() + max;
        while out.len() < limit {
            match self.next_wake() {
                Some(wake) if wake <= now_ms => {}
                _ => return,
            }
            let Some(Reverse((_, offset))) = self.queue.pop() else {
                return;
            };
            if let Some(pending) = self.by_offset.get_mut(&offset) {
                pending.firing = true;
                out.push(Due {
                    offset,
                    key: pending.key.clone(),
                    schedule: pending.schedule.clone(),
                });
            }
        }
    }

    /// Timers that must be written again (see `fired_tombstone`), up to `max`.
    pub fn take_rewrites(&mut self, max: usize, out: &mut Vec<Due>) {
        let limit = out.len() + max;
        while out.len() < limit {
            let Some(offset) = self.rewrites.pop() else {
                return;
            };
            if let Some(pending) = self.by_offset.get_mut(&offset).filter(|p| p.rewrite) {
                pending.rewrite = false;
                out.push(Due {
                    offset,
                    key: pending.key.clone(),
                    schedule: pending.schedule.clone(),
                });
            }
        }
    }

    /// The fire of the timer at `offset` committed.
    pub fn fired(&mut self, offset: i64) {
        if self.by_offset.get(&offset).is_some_and(|p| p.firing) {
            if let Some(pending) = self.by_offset.remove(&offset) {
                self.by_key.remove(&pending.key);
            }
        }
    }

    /// The fire of the timer at `offset` failed at `now_ms`: try again after a wait
    /// that doubles with each failure (`first_ms` up to `max_ms`), unless it was
    /// cancelled or replaced meanwhile (then it is already gone).
    pub fn fire_failed(&mut self, offset: i64, now_ms: u64, first_ms: u64, max_ms: u64) {
        if let Some(pending) = self.by_offset.get_mut(&offset) {
            let wait = first_ms.saturating_mul(1 << pending.failures.min(20)).min(max_ms);
            pending.failures += 1;
            pending.firing = false;
            pending.wake_ms = now_ms + wait;
            self.queue.push(Reverse((pending.wake_ms, offset)));
        }
    }

    /// A rewrite failed: try again with the next batch.
    pub fn rewrite_failed(&mut self, offset: i64) {
        if let Some(pending) = self.by_offset.get_mut(&offset) {
            pending.rewrite = true;
            self.rewrites.push(offset);
        }
    }

    fn remove_key(&mut self, key: &[u8]) -> bool {
        match self.by_key.remove(key) {
            Some(offset) => self.by_offset.remove(&offset).is_some(),
            None => false,
        }
    }

    fn compact_if_stale(&mut self) {
        if self.queue.len() > 2 * self.by_offset.len() + 1024 {
            self.queue = self
                .by_offset
                .iter()
                .filter(|(_, p)| !p.firing)
                .map(|(&offset, p)| Reverse((p.wake_ms, offset)))
                .collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::scheduler::headers::HeaderBlock;

    fn at(due_ms: u64) -> Schedule {
        Schedule {
            due_ms,
            timestamp_ms: 0,
            value: Box::new(*b"payload"),
            headers: HeaderBlock::default(),
        }
    }

    fn take(timers: &mut PartitionTimers, now: u64) -> Vec<i64> {
        let mut out = Vec::new();
        timers.take_due(now, 100, &mut out);
        out.iter().map(|d| d.offset).collect()
    }

    #[test]
    fn fires_in_due_order_and_only_when_due() {
        let mut timers = PartitionTimers::default();
        timers.plan(b"c", 0, at(30));
        timers.plan(b"a", 1, at(10));
        timers.plan(b"b", 2, at(20));
        assert_eq!(timers.next_wake(), Some(10));
        assert_eq!(take(&mut timers, 5), Vec::<i64>::new());
        assert_eq!(take(&mut timers, 20), [1, 2]);
        // Firing timers are not handed out twice and no longer define the next wake.
        assert_eq!(timers.next_wake(), Some(30));
        timers.fired(1);
        timers.fired(2);
        assert_eq!(timers.len(), 1);
    }

    #[test]
    fn replace_moves_the_due_time_and_cancel_removes() {
        let mut timers = PartitionTimers::default();
        assert_eq!(timers.plan(b"k", 0, at(10)), Planned::New);
        assert_eq!(timers.plan(b"k", 1, at(50)), Planned::Replaced);
        assert_eq!(take(&mut timers, 20), Vec::<i64>::new());
        assert_eq!(take(&mut timers, 50), [1]);
        timers.plan(b"gone", 2, at(5));
        assert!(timers.cancel(b"gone"));
        assert!(!timers.cancel(b"gone"));
        assert_eq!(take(&mut timers, 100), Vec::<i64>::new());
    }

    #[test]
    fn a_failed_fire_comes_back_unless_cancelled_or_replaced_meanwhile() {
        let mut timers = PartitionTimers::default();
        timers.plan(b"retry", 0, at(10));
        timers.plan(b"cancelled", 1, at(10));
        timers.plan(b"replaced", 2, at(10));
        assert_eq!(take(&mut timers, 10), [0, 1, 2]);
        timers.cancel(b"cancelled");
        timers.plan(b"replaced", 3, at(500));
        for offset in [0, 1, 2] {
            timers.fire_failed(offset, 10, 30, 100);
        }
        assert_eq!(take(&mut timers, 39), Vec::<i64>::new());
        assert_eq!(take(&mut timers, 40), [0]);
        assert_eq!(timers.len(), 2);
        // The wait doubles, up to the cap.
        timers.fire_failed(0, 40, 30, 100);
        assert_eq!(timers.next_wake(), Some(100));
        assert_eq!(take(&mut timers, 100), [0]);
        timers.fire_failed(0, 100, 30, 100);
        assert_eq!(timers.next_wake(), Some(200));
    }

    #[test]
    fn our_tombstone_removes_the_fired_schedule_but_not_a_newer_one() {
        let mut timers = PartitionTimers::default();
        // Reloading a log: schedule, its fire tombstone.
        timers.plan(b"k", 0, at(10));
        timers.fired_tombstone(b"k", 0);
        assert_eq!(timers.len(), 0);
        // A newer schedule arrived before the tombstone of the one that fired.
        timers.plan(b"k", 5, at(10));
        timers.plan(b"k", 7, at(90));
        timers.fired_tombstone(b"k", 5);
        assert_eq!(timers.len(), 1);
        let mut rewrites = Vec::new();
        timers.take_rewrites(10, &mut rewrites);
        assert_eq!(rewrites.iter().map(|d| d.offset).collect::<Vec<_>>(), [7]);
        timers.take_rewrites(10, &mut rewrites);
        assert_eq!(rewrites.len(), 1);
    }

    #[test]
    fn stale_entries_are_compacted() {
        let mut timers = PartitionTimers::default();
        for offset in 0..5_000 {
            timers.plan(b"same", offset, at(offset as u64));
        }
        assert_eq!(timers.len(), 1);
        assert!(timers.queue.len() <= 2 + 1024 + 1);
        assert_eq!(take(&mut timers, u64::MAX), [4_999]);
    }
}
