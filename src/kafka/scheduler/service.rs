//! The timer service of one worker: it owns the schedules-topic partitions the group
//! gives it, reads each from the beginning to rebuild its pending timers (the topic is
//! the only state: the service can be killed at any time), then keeps consuming, and
//! fires timers as they come due (`fire.rs`).
//!
//! A partition's timers fire only once it has been read to its end (librdkafka's
//! partition EOF, at the last stable offset since we read committed messages):
//! before that, a later tombstone or replacement may still be unread. On revocation
//! the partition's timers are dropped, after waiting for a fire of that partition that
//! is under way, so the next owner reads its outcome (a committed tombstone, or an
//! aborted fire that it repeats).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer};
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::headers::HeaderBlock;
use super::metrics::{SchedulerMetrics, SchedulerSnapshot};
use super::pending::{PartitionTimers, Planned};
use super::protocol::{fired_offset, parse_schedule};
use super::SchedulerOptions;
use crate::engine::abort::AbortSignal;
use crate::kafka::topics::{ensure_topics, TopicSpec};
use crate::kafka::{KafkaError, KafkaOptions, ReportingContext};

const POLL_BACKOFF_FIRST: Duration = Duration::from_millis(100);
const POLL_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Longest a revocation waits for a fire of the revoked partition to finish.
const REVOKE_WAIT: Duration = Duration::from_secs(30);

pub(super) struct Owned {
    /// Read to the end once: its timers may fire.
    pub live: bool,
    pub timers: PartitionTimers,
}

#[derive(Default)]
pub(super) struct State {
    pub partitions: HashMap<i32, Owned>,
    /// Fires under way, per partition.
    pub firing: HashMap<i32, usize>,
}

pub(super) struct Shared {
    pub options: SchedulerOptions,
    pub kafka: KafkaOptions,
    pub consumer: StreamConsumer<SchedulerContext>,
    pub consumer_errors: ReportingContext,
    pub producer: RwLock<Arc<FutureProducer<ReportingContext>>>,
    pub producer_config: rdkafka::ClientConfig,
    pub producer_errors: ReportingContext,
    pub state: Mutex<State>,
    /// Signalled when a fire finishes (a revocation may be waiting for it).
    pub fire_done: Condvar,
    /// New timers or a partition became live: the fire loop looks again.
    pub changed: Notify,
    pub metrics: SchedulerMetrics,
    pub stop: AbortSignal,
}

/// The consumer's context: reports librdkafka errors, and on assignment reads every
/// partition from its beginning.
pub(super) struct SchedulerContext {
    errors: ReportingContext,
    shared: Arc<OnceLock<Weak<Shared>>>,
}

impl ClientContext for SchedulerContext {
    fn error(&self, error: RdKafkaError, reason: &str) {
        self.errors.error(error, reason);
    }
}

impl ConsumerContext for SchedulerContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let shared = self.shared.get().and_then(Weak::upgrade);
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                // Offsets are committed only to fence zombies: always read it all.
                let _ = tpl.set_all_offsets(Offset::Beginning);
                if let Some(shared) = &shared {
                    shared.on_assign(&partitions);
                }
                let _ = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
            }
            _ => {
                if let Some(shared) = &shared {
                    shared.on_revoke(&partitions);
                }
                let _ = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
            }
        }
    }
}

pub struct SchedulerService {
    shared: Arc<Shared>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl SchedulerService {
    /// Creates the topics when missing, opens the firing producer (fencing an earlier
    /// instance with the same transactional id, which aborts its open fire), then joins
    /// the group and starts reading and firing.
    pub async fn start(kafka: KafkaOptions, options: SchedulerOptions) -> Result<Self, KafkaError> {
        options.validate()?;
        ensure_topics(
            &kafka,
            &[
                TopicSpec {
                    name: options.topic.clone(),
                    partitions: options.partitions,
                    compacted: true,
                },
                TopicSpec {
                    name: options.history_topic.clone(),
                    partitions: options.partitions,
                    compacted: false,
                },
            ],
        )
        .await?;
        let producer_errors = ReportingContext::default();
        let producer_config = super::fire::producer_config(&kafka, &options);
        let producer = super::fire::open_producer(&kafka, &producer_config, &producer_errors).await?;
        let consumer_errors = ReportingContext::default();
        let slot: Arc<OnceLock<Weak<Shared>>> = Arc::default();
        let consumer: StreamConsumer<SchedulerContext> = consumer_config(&kafka, &options)
            .create_with_context(SchedulerContext {
                errors: consumer_errors.clone(),
                shared: slot.clone(),
            })
            .map_err(KafkaError::client_creation)?;
        let shared = Arc::new(Shared {
            options,
            kafka,
            consumer,
            consumer_errors,
            producer: RwLock::new(Arc::new(producer)),
            producer_config,
            producer_errors,
            state: Mutex::new(State::default()),
            fire_done: Condvar::new(),
            changed: Notify::new(),
            metrics: SchedulerMetrics::default(),
            stop: AbortSignal::new(),
        });
        let _ = slot.set(Arc::downgrade(&shared));
        shared
            .consumer
            .subscribe(&[&shared.options.topic])
            .map_err(|e| KafkaError::Consume {
                topic: shared.options.topic.clone(),
                cause: e.to_string(),
            })?;
        let tasks = vec![
            tokio::spawn(shared.clone().consume()),
            tokio::spawn(shared.clone().fire_loop()),
        ];
        Ok(SchedulerService {
            shared,
            tasks: Mutex::new(tasks),
        })
    }

    pub fn metrics(&self) -> SchedulerSnapshot {
        self.shared.snapshot()
    }

    /// Stops reading and firing (a fire under way completes first), leaves the group
    /// and drops the clients. Idempotent.
    pub async fn close(&self) {
        self.shared.stop.abort("close");
        self.shared.changed.notify_one();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
        let shared = self.shared.clone();
        let _ = tokio::task::spawn_blocking(move || {
            shared.consumer.unsubscribe();
            shared.lock().partitions.clear();
        })
        .await;
    }
}

impl Drop for SchedulerService {
    fn drop(&mut self) {
        self.shared.stop.abort("dropped");
        self.shared.changed.notify_one();
    }
}

fn consumer_config(kafka: &KafkaOptions, options: &SchedulerOptions) -> rdkafka::ClientConfig {
    let mut config = kafka.group_consumer_config(&options.group_id, options.transactional_id.as_deref());
    // Partitions are read from the beginning on assignment, to their end before firing.
    config
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest");
    if !kafka.config.contains_key("queued.max.messages.kbytes") {
        // Prefetch is for throughput we do not need here; librdkafka's 64 MiB would
        // dwarf the timers themselves in the worker's memory.
        config.set("queued.max.messages.kbytes", "8192");
    }
    config
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn snapshot(&self) -> SchedulerSnapshot {
        let mut snapshot = self.metrics.snapshot();
        let state = self.lock();
        snapshot.partitions = state.partitions.len() as u64;
        snapshot.loading_partitions = state.partitions.values().filter(|p| !p.live).count() as u64;
        snapshot.pending = state.partitions.values().map(|p| p.timers.len() as u64).sum();
        snapshot.last_error = self
            .consumer_errors
            .last_error()
            .or_else(|| self.producer_errors.last_error());
        snapshot
    }

    fn on_assign(&self, partitions: &[i32]) {
        let mut state = self.lock();
        for &partition in partitions {
            state.partitions.insert(
                partition,
                Owned {
                    live: false,
                    timers: PartitionTimers::default(),
                },
            );
        }
    }

    fn on_revoke(&self, partitions: &[i32]) {
        let mut state = self.lock();
        for partition in partitions {
            state.partitions.remove(partition);
        }
        let busy = |s: &State| partitions.iter().any(|p| s.firing.get(p).is_some_and(|n| *n > 0));
        let (_state, _) = self
            .fire_done
            .wait_timeout_while(state, REVOKE_WAIT, |s| busy(s))
            .unwrap_or_else(|p| p.into_inner());
    }

    async fn consume(self: Arc<Self>) {
        let mut backoff = POLL_BACKOFF_FIRST;
        loop {
            let received = tokio::select! {
                _ = self.stop.aborted() => return,
                message = self.consumer.recv() => message,
            };
            match received {
                Ok(message) => {
                    backoff = POLL_BACKOFF_FIRST;
                    self.apply(&message);
                }
                Err(RdKafkaError::PartitionEOF(partition)) => {
                    let mut state = self.lock();
                    if let Some(owned) = state.partitions.get_mut(&partition) {
                        owned.live = true;
                        drop(state);
                        self.changed.notify_one();
                    }
                }
                Err(_) => {
                    // Broker away or a fetch failed: librdkafka reconnects on its own.
                    tokio::select! {
                        _ = self.stop.aborted() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(POLL_BACKOFF_MAX);
                }
            }
        }
    }

    /// One message of the schedules topic: a schedule, a cancel, or our own tombstone.
    fn apply(&self, message: &BorrowedMessage<'_>) {
        let (partition, offset) = (message.partition(), message.offset());
        let key = message.key();
        let headers = HeaderBlock::from_message(message.headers());
        let mut state = self.lock();
        let Some(owned) = state.partitions.get_mut(&partition) else {
            return;
        };
        // kms treats an empty value as a tombstone too.
        let Some(value) = message.payload().filter(|v| !v.is_empty()) else {
            if let Some(key) = key {
                match fired_offset(&headers) {
                    Some(fired) => owned.timers.fired_tombstone(key, fired),
                    None if owned.timers.cancel(key) => SchedulerMetrics::add(&self.metrics.cancelled, 1),
                    None => {}
                }
            }
            return;
        };
        let timestamp_ms = message.timestamp().to_millis().unwrap_or_else(|| now_ms() as i64);
        match parse_schedule(key, value, headers, timestamp_ms) {
            Ok(schedule) => {
                let key = key.unwrap_or_default();
                if owned.timers.plan(key, offset, schedule) == Planned::Replaced {
                    SchedulerMetrics::add(&self.metrics.replaced, 1);
                }
                SchedulerMetrics::add(&self.metrics.planned, 1);
                let live = owned.live;
                drop(state);
                if live {
                    self.changed.notify_one();
                }
            }
            Err(reason) => {
                // The latest message for a key is what compaction keeps: an invalid one
                // leaves nothing pending under that key.
                if let Some(key) = key {
                    owned.timers.cancel(key);
                }
                drop(state);
                let at = format!(
                    "{}/{partition}@{offset} (key '{}')",
                    self.options.topic,
                    String::from_utf8_lossy(key.unwrap_or_default())
                );
                self.kafka.logger.warn(
                    &format!("invalid schedule at {at}, not fired: {reason}"),
                    serde_json::json!({"topic": self.options.topic, "partition": partition, "offset": offset}),
                );
                self.metrics.record_invalid(format!("{at}: {reason}"));
            }
        }
    }
}
