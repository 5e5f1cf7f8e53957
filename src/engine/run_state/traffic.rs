//! The owner's writes on their way to the store, and the reads of the store that would
//! become the owner's copy. The copy takes each of the owner's writes as it is issued,
//! the store only once the write lands; so a read of the store while one is on its way
//! (the copy was evicted, forgotten, or went stale meanwhile) may miss it, and kept as
//! the copy it would hide that write from every later job of the run (a join settling
//! on fewer branches than arrived). So a read waits until no write of the run is on its
//! way, and is kept only if none started while it read.
//!
//! Kept under the run cache's lock, so that a write's start and its taking by the copy
//! are one step for a reader deciding whether to keep what it read.

use std::collections::HashMap;

use tokio::sync::watch;

use super::RunStateCache;

#[derive(Default)]
pub(super) struct Traffic {
    /// Only runs with a write on its way or a read going on.
    by_run: HashMap<String, RunTraffic>,
}

struct RunTraffic {
    /// Writes on their way; readers wait for it to reach zero.
    writing: watch::Sender<usize>,
    /// Writes started since the entry was made (it lives while a read goes on).
    started: u64,
    readers: usize,
}

impl RunTraffic {
    fn new() -> Self {
        RunTraffic {
            writing: watch::Sender::new(0),
            started: 0,
            readers: 0,
        }
    }
}

impl Traffic {
    pub(super) fn write_started(&mut self, run_id: &str) {
        let run = self
            .by_run
            .entry(run_id.to_string())
            .or_insert_with(RunTraffic::new);
        run.started += 1;
        run.writing.send_modify(|writing| *writing += 1);
    }

    pub(super) fn write_ended(&mut self, run_id: &str) {
        if let Some(run) = self.by_run.get_mut(run_id) {
            run.writing
                .send_modify(|writing| *writing = writing.saturating_sub(1));
        }
        self.prune(run_id);
    }

    /// A read may begin (answers the writes started so far, to compare at its end), or
    /// must wait for the writes on their way (answers what to wait on).
    pub(super) fn read_started(&mut self, run_id: &str) -> Result<u64, watch::Receiver<usize>> {
        let run = self
            .by_run
            .entry(run_id.to_string())
            .or_insert_with(RunTraffic::new);
        if *run.writing.borrow() > 0 {
            return Err(run.writing.subscribe());
        }
        run.readers += 1;
        Ok(run.started)
    }

    pub(super) fn read_ended(&mut self, run_id: &str) {
        if let Some(run) = self.by_run.get_mut(run_id) {
            run.readers = run.readers.saturating_sub(1);
        }
        self.prune(run_id);
    }

    /// No write of the run started since a read began with `started` (the reader keeps
    /// the entry alive, so the count is continuous).
    pub(super) fn undisturbed(&self, run_id: &str, started: u64) -> bool {
        self.by_run
            .get(run_id)
            .is_some_and(|run| run.started == started && *run.writing.borrow() == 0)
    }

    fn prune(&mut self, run_id: &str) {
        let idle = self
            .by_run
            .get(run_id)
            .is_some_and(|run| run.readers == 0 && *run.writing.borrow() == 0);
        if idle {
            self.by_run.remove(run_id);
        }
    }

    #[cfg(test)]
    pub(super) fn tracked(&self) -> usize {
        self.by_run.len()
    }
}

/// One of the owner's writes on its way to the store (see `RunStateCache::write`).
pub struct StoreWrite<'a> {
    cache: &'a RunStateCache,
    run_id: String,
    landed: bool,
}

impl<'a> StoreWrite<'a> {
    pub(super) fn new(cache: &'a RunStateCache, run_id: &str) -> Self {
        StoreWrite {
            cache,
            run_id: run_id.to_string(),
            landed: false,
        }
    }

    /// The store holds the write.
    pub fn landed(mut self) {
        self.landed = true;
    }
}

impl Drop for StoreWrite<'_> {
    fn drop(&mut self) {
        let mut runs = self.cache.lock();
        if !self.landed {
            runs.by_id.remove(&self.run_id);
        }
        runs.traffic.write_ended(&self.run_id);
    }
}

/// A read of the run from the store going on (see `RunStateCache::read`).
pub struct StoreRead<'a> {
    pub(super) cache: &'a RunStateCache,
    pub(super) run_id: String,
    pub(super) started: u64,
}

impl Drop for StoreRead<'_> {
    fn drop(&mut self) {
        self.cache.lock().traffic.read_ended(&self.run_id);
    }
}

pub enum ReadStart<'a> {
    Ready(StoreRead<'a>),
    /// Writes of the run are on their way: wait until none is (the count reaches zero,
    /// or the sender goes with the last of them), then begin again.
    Wait(watch::Receiver<usize>),
}
