//! Firing due timers. One Kafka transaction per batch holds, for every timer, the
//! payload to its target, the copy to the history topic and the tombstone that deletes
//! the schedule (on the schedule's own partition), plus the consumer group's offsets
//! (KIP-447: a worker that lost the partition in a rebalance can no longer commit).
//! All of it becomes visible at once, or none of it: a worker killed mid-fire leaves
//! an open transaction that is aborted, and the next owner, which reads committed
//! messages only, still sees the schedule and fires it. So a schedule reaches its
//! target once, as seen by read_committed consumers.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::metrics::SchedulerMetrics;
use super::pending::Due;
use super::protocol::{fired_headers, target_of, FIRED_AT_MS, FIRED_OFFSET, LATE};
use super::service::{now_ms, Shared};
use super::SchedulerOptions;
use crate::kafka::{KafkaError, KafkaOptions, ReportingContext};

const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// How long the loop sleeps with nothing pending (a new schedule wakes it earlier).
const IDLE_WAKE: Duration = Duration::from_secs(60);

pub(super) fn producer_config(kafka: &KafkaOptions, options: &SchedulerOptions) -> ClientConfig {
    let mut config = kafka.client_config();
    for (key, value) in [
        ("acks", "all"),
        ("linger.ms", "1"),
        ("partitioner", "murmur2_random"),
    ] {
        if !kafka.config.contains_key(key) {
            config.set(key, value);
        }
    }
    if !kafka.config.contains_key("transaction.timeout.ms") {
        // A killed worker's open fire blocks readers of the partition until aborted.
        config.set("transaction.timeout.ms", "15000");
    }
    if !kafka.config.contains_key("retry.backoff.ms") {
        // A transaction begun right after the previous commit is refused until the
        // broker has written the previous markers (CONCURRENT_TRANSACTIONS); the
        // default 100 ms retry wait would then set the pace of firing.
        config.set("retry.backoff.ms", "5");
    }
    config.set(
        "transactional.id",
        options.resolved_transactional_id(&kafka.client_id),
    );
    config
}

pub(super) async fn open_producer(
    kafka: &KafkaOptions,
    config: &ClientConfig,
    errors: &ReportingContext,
) -> Result<FutureProducer<ReportingContext>, KafkaError> {
    let (config, errors) = (config.clone(), errors.clone());
    let timeout = kafka.connect_timeout.max(Duration::from_secs(30));
    tokio::task::spawn_blocking(move || {
        crate::kafka::transaction::open_transactional(&config, &errors, timeout)
    })
    .await
    .map_err(|e| KafkaError::Transaction {
        operation: "init_transactions",
        cause: e.to_string(),
    })?
}

/// Timers taken for one transaction, with their partitions.
struct Batch {
    fires: Vec<(i32, Due)>,
    rewrites: Vec<(i32, Due)>,
}

impl Shared {
    pub(super) async fn fire_loop(self: Arc<Self>) {
        // After a failed batch, timers go one per transaction for a while, so one
        // schedule that cannot be delivered (say, its target topic is refused) does
        // not hold back the others; it alone keeps retrying, with its own backoff.
        let mut single_batches = 0usize;
        while !self.stop.is_aborted() {
            let max = if single_batches > 0 {
                1
            } else {
                self.options.max_batch
            };
            let (batch, next_wake) = self.take_batch(now_ms(), max);
            if batch.fires.is_empty() && batch.rewrites.is_empty() {
                let idle = next_wake.map_or(IDLE_WAKE, |wake| {
                    Duration::from_millis(wake.saturating_sub(now_ms())).min(IDLE_WAKE)
                });
                tokio::select! {
                    _ = self.stop.aborted() => return,
                    _ = self.changed.notified() => {}
                    _ = tokio::time::sleep(idle) => {}
                }
                continue;
            }
            let size = batch.fires.len();
            let shared = self.clone();
            // Bookkeeping happens on the blocking thread too: a revocation waiting in a
            // rebalance callback must not depend on a free runtime thread.
            let ok = tokio::task::spawn_blocking(move || shared.fire_and_settle(batch))
                .await
                .unwrap_or(false);
            single_batches = match (ok, size > 1) {
                (false, true) => size,
                _ => single_batches.saturating_sub(1),
            };
        }
    }

    /// Due timers of live partitions (and schedules to write again), marked firing.
    fn take_batch(&self, now: u64, max: usize) -> (Batch, Option<u64>) {
        let mut state = self.lock();
        let mut batch = Batch {
            fires: Vec::new(),
            rewrites: Vec::new(),
        };
        let mut next_wake: Option<u64> = None;
        let mut taken: Vec<(i32, usize)> = Vec::new();
        for (&partition, owned) in state.partitions.iter_mut() {
            if !owned.live {
                continue;
            }
            let mut due = Vec::new();
            owned
                .timers
                .take_due(now, max.saturating_sub(batch.fires.len()), &mut due);
            let mut rewrites = Vec::new();
            owned.timers.take_rewrites(max, &mut rewrites);
            if !due.is_empty() || !rewrites.is_empty() {
                taken.push((partition, 1));
            }
            batch.fires.extend(due.into_iter().map(|d| (partition, d)));
            batch
                .rewrites
                .extend(rewrites.into_iter().map(|d| (partition, d)));
            if let Some(wake) = owned.timers.next_wake() {
                next_wake = Some(next_wake.map_or(wake, |w| w.min(wake)));
            }
        }
        for (partition, n) in taken {
            *state.firing.entry(partition).or_default() += n;
        }
        (batch, next_wake)
    }

    /// Fires a batch in one transaction and records the outcome; false on failure.
    fn fire_and_settle(&self, batch: Batch) -> bool {
        let now = now_ms();
        let result = self.fire_batch(&batch, now);
        let mut state = self.lock();
        let grace = self.options.grace.as_millis() as u64;
        let mut late = 0;
        for (partition, due) in &batch.fires {
            let Some(owned) = state.partitions.get_mut(partition) else {
                continue;
            };
            if result.is_ok() {
                owned.timers.fired(due.offset);
            } else {
                owned.timers.fire_failed(
                    due.offset,
                    now,
                    RETRY_FIRST.as_millis() as u64,
                    RETRY_MAX.as_millis() as u64,
                );
            }
            if now > due.schedule.due_ms + grace {
                late += 1;
            }
        }
        if result.is_err() {
            for (partition, due) in &batch.rewrites {
                if let Some(owned) = state.partitions.get_mut(partition) {
                    owned.timers.rewrite_failed(due.offset);
                }
            }
        }
        let mut partitions: Vec<i32> = batch
            .fires
            .iter()
            .chain(batch.rewrites.iter())
            .map(|(p, _)| *p)
            .collect();
        partitions.dedup();
        partitions.sort_unstable();
        partitions.dedup();
        for partition in partitions {
            if let Some(n) = state.firing.get_mut(&partition) {
                *n = n.saturating_sub(1);
            }
        }
        drop(state);
        self.fire_done.notify_all();
        match result {
            Ok(()) => {
                SchedulerMetrics::add(&self.metrics.fired, batch.fires.len() as u64);
                SchedulerMetrics::add(&self.metrics.late, late);
                true
            }
            Err(error) => {
                SchedulerMetrics::add(&self.metrics.fire_errors, batch.fires.len() as u64);
                self.kafka.logger.warn(
                    &format!(
                        "firing {} schedule(s) from '{}' failed, retrying: {error}",
                        batch.fires.len(),
                        self.options.topic
                    ),
                    serde_json::json!({"topic": self.options.topic, "schedules": batch.fires.len()}),
                );
                false
            }
        }
    }

    fn fire_batch(&self, batch: &Batch, now: u64) -> Result<(), KafkaError> {
        let producer = self.producer.read().unwrap_or_else(|p| p.into_inner()).clone();
        let step = |operation: &'static str| {
            let errors = self.producer_errors.clone();
            move |e: rdkafka::error::KafkaError| KafkaError::Transaction {
                operation,
                cause: errors
                    .last_error()
                    .map_or_else(|| e.to_string(), |d| format!("{e} ({d})")),
            }
        };
        let timeout = self.kafka.connect_timeout.max(Duration::from_secs(10));
        producer.begin_transaction().map_err(step("begin_transaction"))?;
        let produced = self.produce_batch(&producer, batch, now);
        let committed = produced.and_then(|()| {
            let mut offsets = TopicPartitionList::new();
            if let Ok(positions) = self.consumer.position() {
                for element in positions.elements() {
                    if let Offset::Offset(at) = element.offset() {
                        let _ = offsets.add_partition_offset(
                            element.topic(),
                            element.partition(),
                            Offset::Offset(at),
                        );
                    }
                }
            }
            if offsets.count() > 0 {
                if let Some(group) = self.consumer.group_metadata() {
                    producer
                        .send_offsets_to_transaction(&offsets, &group, timeout)
                        .map_err(step("send_offsets_to_transaction"))?;
                }
            }
            producer
                .commit_transaction(timeout)
                .map_err(step("commit_transaction"))
        });
        if committed.is_err() && producer.abort_transaction(timeout).is_err() {
            // Fenced or in a fatal state: a fresh producer with the same id.
            if let Ok(fresh) = crate::kafka::transaction::open_transactional(
                &self.producer_config,
                &self.producer_errors,
                timeout,
            ) {
                *self.producer.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
            }
        }
        committed
    }

    fn produce_batch(
        &self,
        producer: &FutureProducer<ReportingContext>,
        batch: &Batch,
        now: u64,
    ) -> Result<(), KafkaError> {
        let grace = self.options.grace.as_millis() as u64;
        let topic = &self.options.topic;
        let failed = |to: &str, e: rdkafka::error::KafkaError| KafkaError::Produce {
            topic: to.to_string(),
            cause: e.to_string(),
        };
        let mut deliveries = Vec::with_capacity(batch.fires.len() * 3 + batch.rewrites.len());
        for (partition, due) in &batch.fires {
            let (target, target_key) =
                target_of(&due.schedule.headers).map_err(|reason| KafkaError::Produce {
                    topic: topic.clone(),
                    cause: reason,
                })?;
            let out = fired_headers(&due.schedule, &due.key, topic);
            let late = now > due.schedule.due_ms + grace;
            let fired_at = now.to_string();
            let value: &[u8] = &due.schedule.value;
            let delivery = producer
                .send_result(
                    FutureRecord::to(target)
                        .key(target_key)
                        .payload(value)
                        .headers(kafka_headers(&out, &[])),
                )
                .map_err(|(e, _)| failed(target, e))?;
            deliveries.push((target.to_string(), delivery));
            let extra = [
                (FIRED_AT_MS, fired_at.as_bytes()),
                (LATE, if late { &b"true"[..] } else { b"false" }),
            ];
            let delivery = producer
                .send_result(
                    FutureRecord::to(&self.options.history_topic)
                        .key(&due.key[..])
                        .payload(value)
                        .headers(kafka_headers(&out, &extra)),
                )
                .map_err(|(e, _)| failed(&self.options.history_topic, e))?;
            deliveries.push((self.options.history_topic.clone(), delivery));
            let offset = due.offset.to_string();
            let delivery = producer
                .send_result(
                    FutureRecord::<[u8], [u8]>::to(topic)
                        .partition(*partition)
                        .key(&due.key[..])
                        .headers(OwnedHeaders::new().insert(Header {
                            key: FIRED_OFFSET,
                            value: Some(offset.as_bytes()),
                        })),
                )
                .map_err(|(e, _)| failed(topic, e))?;
            deliveries.push((topic.clone(), delivery));
        }
        for (partition, due) in &batch.rewrites {
            let delivery = producer
                .send_result(
                    FutureRecord::to(topic)
                        .partition(*partition)
                        .key(&due.key[..])
                        .payload(&due.schedule.value[..])
                        .headers(due.schedule.headers.to_kafka()),
                )
                .map_err(|(e, _)| failed(topic, e))?;
            deliveries.push((topic.clone(), delivery));
        }
        // Waiting here, not in commit_transaction: its flush polls a queue that the
        // producer's own thread serves, and would sleep 100 ms per commit.
        let outcomes = futures::executor::block_on(futures::future::join_all(
            deliveries
                .into_iter()
                .map(|(to, delivery)| async move { (to, delivery.await) }),
        ));
        for (to, outcome) in outcomes {
            match outcome {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(failed(&to, e)),
                Err(_) => return Err(failed(&to, rdkafka::error::KafkaError::Canceled)),
            }
        }
        Ok(())
    }
}

fn kafka_headers(headers: &[(String, Vec<u8>)], extra: &[(&str, &[u8])]) -> OwnedHeaders {
    let mut out = OwnedHeaders::new_with_capacity(headers.len() + extra.len());
    for (key, value) in headers {
        out = out.insert(Header {
            key: key.as_str(),
            value: Some(value.as_slice()),
        });
    }
    for (key, value) in extra {
        out = out.insert(Header {
            key,
            value: Some(*value),
        });
    }
    out
}
