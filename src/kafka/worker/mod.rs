//! The consuming half of the transport: a background pump that keeps polling the
//! group consumer (so rebalances are served and `max.poll.interval.ms` is never hit,
//! even while every job slot is busy for minutes: K2), a bounded buffer of decoded
//! jobs (partitions are paused above it), `receive` in batches, and acknowledgements
//! feeding the offset ledger.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::producer::FutureProducer;
use rdkafka::statistics::Statistics;
use tokio::sync::Notify;

mod plain_delivery;
mod pump;

use super::ledger::{Entry, Ledger};
use super::wire::{decode_job, Position};
use super::{KafkaError, KafkaOptions, KafkaTransportOptions, ReportingContext};
use crate::engine::abort::AbortSignal;
use crate::engine::job::Job;
use crate::engine::limits::shown_run_id;
use crate::engine::traits::{Delivery, DeliveryReceipt, JobDisposition};
use crate::engine::Logger;

/// A dead letter that could not be produced is tried again after this long (doubling).
const POLL_BACKOFF_FIRST: Duration = Duration::from_millis(100);
const POLL_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// After a consumer error event, the pump polls again after this short pause: only
/// enough not to spin, so a backlog of errors drains at once (see `pump`).
const POLL_ERROR_PAUSE: Duration = Duration::from_millis(10);
/// With a `batch_max_ms` linger, how long `receive` waits for the next ready job.
const BATCH_IDLE_GAP: Duration = Duration::from_millis(2);
/// After a seek that failed, the pump polls once and seeks again after this long.
const SEEK_RETRY_PAUSE: Duration = Duration::from_millis(100);
/// How often librdkafka reports statistics, and so the consumer lag (ms).
const LAG_REPORT_INTERVAL_MS: &str = "1000";
/// How long the buffer may stay full before the partitions are paused.
const PAUSE_AFTER: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(crate) struct WorkerState {
    pub ledger: Ledger,
    /// Decoded jobs not yet handed to the worker.
    pub buffer: VecDeque<(DeliveryReceipt, Job)>,
    /// Deliveries that produced into the open transaction and are not acknowledged.
    pub members: HashSet<u64>,
    /// A commit is under way: only members may still produce.
    pub closing_txn: bool,
    /// A transaction is open and accepting messages.
    pub txn_open: bool,
    /// Something was produced in the open transaction.
    pub produced: bool,
    /// A failed commit was aborted: the pump seeks back to `rewind_to` before reading
    /// on (the ledger was already emptied, so nothing delivered before the abort can
    /// be committed).
    pub needs_rewind: bool,
    pub rewind_to: Vec<(i32, i64)>,
    pub paused: bool,
    /// `close()` began: `receive` returns empty batches.
    pub closed: bool,
    /// Test-only crash: callbacks do nothing.
    pub crashed: bool,
    /// A fatal error (a fenced consumer, or a producer fenced too often): the transport
    /// cannot go on.
    pub failed: Option<String>,
    /// When the transactional producer was last replaced after a fatal error.
    pub fatal_recoveries: VecDeque<Instant>,
}

impl WorkerState {
    /// Whether a fatal producer error may be recovered with a fresh producer (counted):
    /// at most `FATAL_RECOVERIES` times per `FATAL_RECOVERY_WINDOW`, so two processes
    /// sharing a transactional id do not fence each other forever.
    pub(crate) fn may_recover_from_fatal(&mut self, now: Instant) -> bool {
        use super::transaction::{FATAL_RECOVERIES, FATAL_RECOVERY_WINDOW};
        while self
            .fatal_recoveries
            .front()
            .is_some_and(|at| now.duration_since(*at) > FATAL_RECOVERY_WINDOW)
        {
            self.fatal_recoveries.pop_front();
        }
        if self.fatal_recoveries.len() >= FATAL_RECOVERIES {
            return false;
        }
        self.fatal_recoveries.push_back(now);
        true
    }
}

/// Consumer context: records librdkafka's errors and commits before partitions go.
pub(crate) struct WorkerContext {
    errors: ReportingContext,
    worker: Arc<OnceLock<Weak<Worker>>>,
}

impl ClientContext for WorkerContext {
    fn error(&self, error: RdKafkaError, reason: &str) {
        self.errors.error(error, reason);
    }

    fn stats(&self, statistics: Statistics) {
        if let Some(worker) = self.worker.get().and_then(Weak::upgrade) {
            worker.report_lag(&statistics);
        }
    }
}

impl ConsumerContext for WorkerContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Some(worker) = self.worker.get().and_then(Weak::upgrade) else {
            return;
        };
        // Any change of assignment: what this worker held in memory of its runs may
        // have been changed by another owner meanwhile (see `engine::run_state`).
        worker.generation.fetch_add(1, Ordering::SeqCst);
        let Rebalance::Revoke(list) = rebalance else {
            return;
        };
        let partitions: Vec<i32> = list
            .elements()
            .iter()
            .filter(|e| e.topic() == worker.options.topic)
            .map(|e| e.partition())
            .collect();
        for partition in &partitions {
            worker
                .options
                .metrics
                .forget_partition(&worker.options.topic, *partition);
        }
        worker.on_revoke(consumer, &partitions);
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Some(worker) = self.worker.get().and_then(Weak::upgrade) else {
            return;
        };
        let metrics = &worker.options.metrics;
        if matches!(rebalance, Rebalance::Assign(_)) {
            metrics.rebalanced();
        }
        if let Ok(assignment) = consumer.assignment() {
            let ours = assignment
                .elements()
                .iter()
                .filter(|e| e.topic() == worker.options.topic)
                .count();
            metrics.set_partitions_assigned(ours);
        }
    }
}

pub(crate) struct Worker {
    pub options: KafkaTransportOptions,
    pub kafka: KafkaOptions,
    pub consumer: StreamConsumer<WorkerContext>,
    pub consumer_errors: ReportingContext,
    /// The transactional producer; replaced by a fresh one after an abort.
    pub txn: RwLock<Arc<FutureProducer<ReportingContext>>>,
    pub txn_config: ClientConfig,
    pub txn_errors: ReportingContext,
    pub state: Mutex<WorkerState>,
    /// Signalled when the member set empties (a commit waits on it).
    pub drained: Condvar,
    /// Buffer, redeliveries or `closed` changed.
    pub changed: Notify,
    /// A transaction was (re)opened.
    pub reopened: Notify,
    /// Something became committable.
    pub dirty: Notify,
    /// Nothing is in flight any more.
    pub idle: Notify,
    /// Wakes the pump: a rewind was requested, or the buffer drained (resume).
    pub wake: Notify,
    /// Serialises commit cycles.
    pub commit_lock: Mutex<()>,
    pub stop: AbortSignal,
    /// Bumped on every rebalance (see `KafkaJobTransport::generation`).
    pub generation: AtomicU64,
}

impl Worker {
    /// Creates the group consumer (read_committed, manual offsets, cooperative
    /// rebalancing) and subscribes it; the transactional producer is passed in ready.
    pub fn new(
        kafka: KafkaOptions,
        options: KafkaTransportOptions,
        txn: FutureProducer<ReportingContext>,
        txn_config: ClientConfig,
        txn_errors: ReportingContext,
    ) -> Result<Arc<Self>, KafkaError> {
        let consumer_errors = ReportingContext::default();
        let slot: Arc<OnceLock<Weak<Worker>>> = Arc::default();
        let mut config = kafka.group_consumer_config(&options.group_id, options.transactional_id.as_deref());
        if !kafka.config.contains_key("statistics.interval.ms") {
            // Statistics carry each partition's offsets: the lag metric comes from them.
            config.set("statistics.interval.ms", LAG_REPORT_INTERVAL_MS);
        }
        let consumer: StreamConsumer<WorkerContext> = config
            .create_with_context(WorkerContext {
                errors: consumer_errors.clone(),
                worker: slot.clone(),
            })
            .map_err(KafkaError::client_creation)?;
        consumer
            .subscribe(&[&options.topic])
            .map_err(|e| KafkaError::Consume {
                topic: options.topic.clone(),
                cause: e.to_string(),
            })?;
        let worker = Arc::new(Worker {
            options,
            kafka,
            consumer,
            consumer_errors,
            txn: RwLock::new(Arc::new(txn)),
            txn_config,
            txn_errors,
            state: Mutex::new(WorkerState {
                txn_open: true,
                ..Default::default()
            }),
            drained: Condvar::new(),
            changed: Notify::new(),
            reopened: Notify::new(),
            dirty: Notify::new(),
            idle: Notify::new(),
            wake: Notify::new(),
            commit_lock: Mutex::new(()),
            stop: AbortSignal::new(),
            generation: AtomicU64::new(0),
        });
        let _ = slot.set(Arc::downgrade(&worker));
        Ok(worker)
    }

    /// The current transactional producer.
    pub fn txn(&self) -> Arc<FutureProducer<ReportingContext>> {
        self.txn.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn lock(&self) -> MutexGuard<'_, WorkerState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Consumer lag per assigned partition from librdkafka's statistics: the partition's
    /// last stable offset (read_committed) minus where the group resumes, this worker's
    /// own commits (the ledger) or, before it consumed anything, the committed offset
    /// the consumer fetched on assignment.
    fn report_lag(&self, statistics: &Statistics) {
        let Some(topic) = statistics.topics.get(&self.options.topic) else {
            return;
        };
        let resume_points: std::collections::HashMap<i32, i64> =
            self.lock().ledger.resume_points().into_iter().collect();
        for (partition, stats) in &topic.partitions {
            // -1 is librdkafka's internal UA partition; partitions not fetched are unknown.
            if *partition < 0 || stats.fetch_state != "active" || stats.ls_offset < 0 {
                continue;
            }
            let resumes_at = match resume_points.get(partition) {
                Some(offset) => *offset,
                None if stats.committed_offset >= 0 => stats.committed_offset,
                None => stats.lo_offset.max(0),
            };
            self.options.metrics.set_consumer_lag(
                &self.options.topic,
                *partition,
                stats.ls_offset - resumes_at,
            );
        }
    }

    /// Partitions are leaving: commit what is finished while we still own them, then
    /// forget their in-flight jobs (the next owner resumes from the commit).
    fn on_revoke(&self, consumer: &BaseConsumer<WorkerContext>, partitions: &[i32]) {
        if self.lock().crashed {
            return;
        }
        if !consumer.assignment_lost() {
            let _ = self.commit_cycle(consumer.group_metadata(), true, self.options.revoke_grace);
        }
        let mut state = self.lock();
        state.ledger.forget(partitions);
        let ledger = &state.ledger;
        let keep: VecDeque<_> = state
            .buffer
            .iter()
            .filter(|(receipt, _)| ledger.entry(*receipt).is_some())
            .cloned()
            .collect();
        state.buffer = keep;
    }

    /// Up to `max` jobs: due redeliveries first, then buffered ones. Waits for the
    /// first; then takes what is ready, lingering up to `batch_max_ms` for more (0: none).
    /// Empty once closed.
    pub async fn receive(&self, max: usize) -> Result<Vec<Delivery>, KafkaError> {
        let limit = max.min(self.options.batch_max_n).max(1);
        let window = Duration::from_millis(self.options.batch_max_ms);
        let mut batch: Vec<Delivery> = Vec::new();
        let mut first_at: Option<Instant> = None;
        loop {
            let notified = self.changed.notified();
            let next_due = {
                let mut state = self.lock();
                if let Some(reason) = &state.failed {
                    return Err(KafkaError::Closed {
                        reason: reason.clone(),
                    });
                }
                if state.closed {
                    return Ok(batch);
                }
                let room = limit - batch.len();
                for (receipt, job) in state.ledger.take_due(Instant::now(), room) {
                    batch.push(Delivery { job, receipt });
                }
                while batch.len() < limit {
                    let Some((receipt, job)) = state.buffer.pop_front() else {
                        break;
                    };
                    batch.push(Delivery { job, receipt });
                }
                if !batch.is_empty() && state.buffer.len() < self.options.max_buffered.max(1) {
                    // The pump may be waiting for room.
                    self.wake.notify_one();
                }
                state.ledger.next_due()
            };
            if batch.len() >= limit {
                return Ok(batch);
            }
            let wait = if batch.is_empty() {
                next_due.map(|at| at.saturating_duration_since(Instant::now()))
            } else {
                // By default (`batch_max_ms` 0) no lingering for more: under load the
                // buffer already holds the next batch, and unloaded every millisecond
                // spent here is added to a hop.
                let started = *first_at.get_or_insert_with(Instant::now);
                let left = window.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Ok(batch);
                }
                Some(left.min(BATCH_IDLE_GAP))
            };
            let woken = match wait {
                Some(limit) => tokio::time::timeout(limit, notified).await.is_ok(),
                None => {
                    notified.await;
                    true
                }
            };
            if !woken && !batch.is_empty() {
                return Ok(batch);
            }
        }
    }

    pub fn acknowledge(&self, receipt: DeliveryReceipt, disposition: JobDisposition) {
        let mut state = self.lock();
        state.members.remove(&receipt.0);
        if state.members.is_empty() {
            self.drained.notify_all();
        }
        match disposition {
            // A rejected job reaches here only after its dead letter was written.
            JobDisposition::Done | JobDisposition::Reject { .. } => self.finished(state, receipt),
            JobDisposition::Redeliver { reason } => {
                if let Some(entry) = state.ledger.redeliver_later(receipt, Instant::now()) {
                    report_redelivery(&self.kafka.logger, &self.options.topic, entry, &reason);
                }
                drop(state);
                self.changed.notify_waiters();
            }
        }
    }

    /// `receipt` is finished: its offset may be committed (the committer is told, at once
    /// when nothing else is in flight).
    pub(crate) fn finished(&self, mut state: MutexGuard<'_, WorkerState>, receipt: DeliveryReceipt) {
        let known = state.ledger.finish(receipt);
        let idle = state.ledger.in_flight() == 0;
        drop(state);
        if known {
            self.dirty.notify_one();
            if idle {
                self.idle.notify_one();
            }
        }
    }

    /// Delivered jobs not yet acknowledged (excluding those waiting for redelivery).
    pub fn in_flight(&self) -> usize {
        self.lock().ledger.in_flight()
    }
}

/// A job handed back says why: on its first redelivery and then at every power of two, so
/// one that can never be handled is still seen (about once per backoff doubling).
fn report_redelivery(logger: &Logger, topic: &str, entry: &Entry, reason: &str) {
    if !entry.redeliveries.is_power_of_two() {
        return;
    }
    let job = entry.job.as_ref().map_or_else(String::new, |job| {
        format!(
            " (job '{}', node '{}', run {})",
            job.job_id,
            job.node_id,
            shown_run_id(&job.run_id)
        )
    });
    let mut context = serde_json::json!({
        "topic": topic,
        "partition": entry.partition,
        "offset": entry.offset,
        "redelivery": entry.redeliveries,
        "reason": reason,
    });
    if let Some(job) = &entry.job {
        context["runId"] = shown_run_id(&job.run_id).into();
        context["nodeId"] = job.node_id.clone().into();
        context["jobId"] = job.job_id.clone().into();
    }
    logger.warn(
        &format!(
            "the message at partition {} offset {}{job} is retried (redelivery {}): {reason}",
            entry.partition, entry.offset, entry.redeliveries
        ),
        context,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatal_producer_errors_are_recovered_a_bounded_number_of_times_per_window() {
        use super::super::transaction::{FATAL_RECOVERIES, FATAL_RECOVERY_WINDOW};
        let mut state = WorkerState::default();
        let start = Instant::now();
        for _ in 0..FATAL_RECOVERIES {
            assert!(state.may_recover_from_fatal(start));
        }
        assert!(!state.may_recover_from_fatal(start + Duration::from_secs(1)));
        let later = start + FATAL_RECOVERY_WINDOW + Duration::from_secs(1);
        assert!(state.may_recover_from_fatal(later), "the window moved on");
    }
}
