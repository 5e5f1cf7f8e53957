//! The worker's transactions: successors produced while handling a job, dead letters
//! and consumed offsets are committed together (`send_offsets_to_transaction` with
//! the group's metadata, then `commit_transaction`), so read_committed consumers see
//! a job's successors exactly when its offset is committed.
//!
//! One transaction is open at a time. A commit first *closes* it: deliveries that
//! already produced into it (members) may finish, newcomers wait for the next one. It
//! commits once the members are acknowledged (or `revoke_grace` passed), with every
//! partition's offset below its lowest unfinished job.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, ConsumerGroupMetadata};
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::ledger::OriginalHeader;
use super::signing::signed_job;
use super::transport_options::DeliveryMode;
use super::wire::{dead_letter_value, HEADER_ORIGINAL_SIZE, HEADER_REASON, HEADER_SOURCE, HEADER_TRUNCATED};
use super::worker::{Worker, WorkerState};
use super::{KafkaError, ReportingContext};
use crate::engine::job::Job;
use crate::engine::traits::DeliveryReceipt;

const COMMIT_RETRIES: usize = 3;
const COMMITTER_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A fatal producer error (fenced) is recovered with a fresh producer at most this
/// many times per `FATAL_RECOVERY_WINDOW`; beyond that the transport stops.
pub(crate) const FATAL_RECOVERIES: usize = 5;
pub(crate) const FATAL_RECOVERY_WINDOW: Duration = Duration::from_secs(600);

/// A message on its way to the error topic.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    /// The original message's headers, sent ahead of the error headers.
    pub headers: Vec<OriginalHeader>,
    pub original_size: usize,
    pub truncated: bool,
    pub source: String,
    pub reason: String,
}

impl DeadLetter {
    pub fn from_message(message: &BorrowedMessage<'_>, reason: String) -> Self {
        let (value, truncated) = dead_letter_value(message.payload());
        DeadLetter {
            key: message.key().map(<[u8]>::to_vec),
            value: value.to_vec(),
            headers: original_headers(message),
            original_size: message.payload_len(),
            truncated,
            source: format!("{}/{}@{}", message.topic(), message.partition(), message.offset()),
            reason,
        }
    }

    /// The letter as a record for the error topic `topic`.
    pub(crate) fn record<'a>(&'a self, topic: &'a str) -> FutureRecord<'a, [u8], [u8]> {
        let record = FutureRecord::to(topic)
            .payload(self.value.as_slice())
            .headers(self.headers());
        match &self.key {
            Some(key) => record.key(key.as_slice()),
            None => record,
        }
    }

    fn headers(&self) -> OwnedHeaders {
        let size = self.original_size.to_string();
        // An original header named as one of ours (a letter replayed from the error topic)
        // gives way to the new one.
        let originals = self
            .headers
            .iter()
            .filter(|(name, _)| !ERROR_HEADERS.contains(&name.as_str()));
        originals
            .fold(OwnedHeaders::new(), |headers, (name, value)| {
                headers.insert(Header {
                    key: name,
                    value: value.as_deref(),
                })
            })
            .insert(Header {
                key: HEADER_REASON,
                value: Some(&self.reason),
            })
            .insert(Header {
                key: HEADER_SOURCE,
                value: Some(&self.source),
            })
            .insert(Header {
                key: HEADER_ORIGINAL_SIZE,
                value: Some(&size),
            })
            .insert(Header {
                key: HEADER_TRUNCATED,
                value: Some(if self.truncated { "true" } else { "false" }),
            })
    }
}

const ERROR_HEADERS: [&str; 4] = [
    HEADER_REASON,
    HEADER_SOURCE,
    HEADER_ORIGINAL_SIZE,
    HEADER_TRUNCATED,
];

/// A consumed message's headers, owned.
pub(crate) fn original_headers(message: &BorrowedMessage<'_>) -> Vec<OriginalHeader> {
    let Some(headers) = message.headers() else {
        return Vec::new();
    };
    headers
        .iter()
        .map(|header| (header.key.to_string(), header.value.map(<[u8]>::to_vec)))
        .collect()
}

impl Worker {
    /// Waits until the open transaction accepts `receipt`'s messages; `None` when the
    /// receipt is no longer ours (revoked, already acknowledged).
    async fn admit(
        &self,
        receipt: DeliveryReceipt,
    ) -> Result<Option<std::sync::MutexGuard<'_, super::worker::WorkerState>>, KafkaError> {
        loop {
            let reopened = self.reopened.notified();
            {
                let state = self.lock();
                if let Some(reason) = &state.failed {
                    return Err(KafkaError::Closed {
                        reason: reason.clone(),
                    });
                }
                if state.ledger.entry(receipt).is_none() {
                    return Ok(None);
                }
                let member = state.members.contains(&receipt.0);
                if state.txn_open && (member || !state.closing_txn) {
                    return Ok(Some(state));
                }
                if state.closed && !state.txn_open {
                    return Err(KafkaError::Closed {
                        reason: "the transport was closed".into(),
                    });
                }
            }
            reopened.await;
        }
    }

    /// Produces `jobs` in the open transaction on behalf of `receipt`: they become
    /// visible when the transaction that commits `receipt`'s offset commits.
    pub async fn enqueue_in_transaction(
        &self,
        receipt: DeliveryReceipt,
        jobs: Vec<Job>,
    ) -> Result<(), KafkaError> {
        if self.options.delivery == DeliveryMode::AtLeastOnce {
            return self.produce_acknowledged(&jobs).await;
        }
        let topic = self.options.topic.clone();
        let payloads: Vec<(String, String)> = jobs
            .iter()
            .map(|job| {
                serde_json::to_string(job)
                    .map(|json| (job.run_id.clone(), json))
                    .map_err(|e| KafkaError::Produce {
                        topic: topic.clone(),
                        cause: e.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        let deliveries = {
            let Some(mut state) = self.admit(receipt).await? else {
                return Err(KafkaError::Closed {
                    reason: format!("delivery {} is no longer owned by this worker", receipt.0),
                });
            };
            state.members.insert(receipt.0);
            state.produced = true;
            let mut deliveries = Vec::with_capacity(payloads.len());
            for ((key, json), job) in payloads.iter().zip(&jobs) {
                let record = signed_job(
                    &self.options,
                    job,
                    FutureRecord::to(&topic).key(key).payload(json),
                );
                match self.txn().send_result(record) {
                    Ok(delivery) => deliveries.push(delivery),
                    Err((e, _)) => return Err(self.produce_error(&topic, e)),
                }
            }
            deliveries
        };
        self.await_deliveries(&topic, deliveries).await
    }

    /// Sends `letter` to the error topic and finishes `receipt`, in one transaction.
    pub async fn dead_letter(&self, receipt: DeliveryReceipt, letter: DeadLetter) -> Result<(), KafkaError> {
        if self.options.delivery == DeliveryMode::AtLeastOnce {
            return self.dead_letter_acknowledged(receipt, letter).await;
        }
        let delivery = {
            let Some(mut state) = self.admit(receipt).await? else {
                return Ok(());
            };
            match self.dead_letter_now(&mut state, receipt, &letter) {
                Ok(Some(delivery)) => delivery,
                Ok(None) => return Ok(()),
                Err(()) => {
                    return Err(KafkaError::Produce {
                        topic: self.options.error_topic.clone(),
                        cause: "the transaction is not open".into(),
                    })
                }
            }
        };
        self.finish_dead_letter(delivery).await
    }

    /// Produces the letter in the open transaction and finishes the receipt, under the
    /// state lock. `Err(())` when no transaction accepts messages right now; `None`
    /// when the receipt is no longer ours.
    pub(crate) fn dead_letter_now(
        &self,
        state: &mut WorkerState,
        receipt: DeliveryReceipt,
        letter: &DeadLetter,
    ) -> Result<Option<Result<DeliveryFuture, KafkaError>>, ()> {
        if state.ledger.entry(receipt).is_none() {
            return Ok(None);
        }
        let member = state.members.contains(&receipt.0);
        if !state.txn_open || (state.closing_txn && !member) {
            return Err(());
        }
        let topic = &self.options.error_topic;
        let delivery = self
            .txn()
            .send_result(letter.record(topic))
            .map_err(|(e, _)| self.produce_error(topic, e));
        if delivery.is_ok() {
            state.produced = true;
            state.members.remove(&receipt.0);
            state.ledger.finish(receipt);
            if state.members.is_empty() {
                self.drained.notify_all();
            }
            self.dirty.notify_one();
        }
        Ok(Some(delivery))
    }

    pub(crate) async fn finish_dead_letter(
        &self,
        delivery: Result<DeliveryFuture, KafkaError>,
    ) -> Result<(), KafkaError> {
        self.await_deliveries(&self.options.error_topic, vec![delivery?])
            .await
    }

    pub(crate) async fn await_deliveries(
        &self,
        topic: &str,
        deliveries: Vec<DeliveryFuture>,
    ) -> Result<(), KafkaError> {
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(self.produce_error(topic, e)),
                Err(_) => {
                    return Err(KafkaError::Produce {
                        topic: topic.to_string(),
                        cause: "the producer was closed before delivery".into(),
                    })
                }
            }
        }
        Ok(())
    }

    pub(crate) fn produce_error(&self, topic: &str, e: RdKafkaError) -> KafkaError {
        KafkaError::Produce {
            topic: topic.to_string(),
            cause: match self.txn_errors.last_error() {
                Some(detail) => format!("{e} ({detail})"),
                None => e.to_string(),
            },
        }
    }

    /// One commit: close the transaction, wait (bounded) for its members, send the
    /// committable offsets, commit, and open the next one when `reopen`. Blocking:
    /// call from a blocking thread or the rebalance callback. On an abortable failure
    /// the transaction is aborted and the pump rewinds to the last committed offsets.
    pub fn commit_cycle(
        &self,
        group: Option<ConsumerGroupMetadata>,
        reopen: bool,
        member_wait: Duration,
    ) -> Result<(), KafkaError> {
        if self.options.delivery == DeliveryMode::AtLeastOnce {
            return self.commit_offsets();
        }
        let _serial = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        let timeout = self.kafka.connect_timeout.max(Duration::from_secs(5));
        let offsets = {
            let mut state = self.lock();
            if !state.txn_open {
                if reopen && state.failed.is_none() && !state.closed {
                    // No transaction could be begun after a failed commit (the broker
                    // was away): try again now.
                    drop(state);
                    return self.reopen_transaction(timeout);
                }
                return Ok(());
            }
            let nothing =
                state.ledger.committable().is_empty() && !state.produced && state.members.is_empty();
            if nothing && reopen {
                return Ok(());
            }
            state.closing_txn = true;
            let deadline = Instant::now() + member_wait;
            while !state.members.is_empty() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                state = self
                    .drained
                    .wait_timeout(state, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            state.ledger.committable()
        };
        let outcome = self.send_and_commit(group, &offsets, timeout);
        let mut state = self.lock();
        let mut result = match outcome {
            Ok(()) => {
                state.ledger.committed(&offsets);
                state.produced = false;
                Ok(())
            }
            Err(e) => {
                state.produced = false;
                if e.fatal && !state.may_recover_from_fatal(Instant::now()) {
                    state.failed = Some(e.error.to_string());
                } else {
                    if e.fatal {
                        // Fenced: usually our own transaction outlived
                        // `transaction.timeout.ms` while the broker was away (restarted),
                        // and the coordinator aborted it and bumped our epoch. Nothing of
                        // it is visible: start over like after an abortable error.
                        self.kafka.logger.warn(
                            &format!(
                                "the jobs transaction failed fatally ({}); going on with a fresh producer",
                                e.error
                            ),
                            serde_json::json!({"topic": self.options.topic}),
                        );
                    }
                    drop(state);
                    self.replace_producer(timeout);
                    state = self.lock();
                    self.rewind(&mut state);
                }
                Err(e.error)
            }
        };
        state.txn_open = false;
        if reopen && state.failed.is_none() {
            match self.txn().begin_transaction() {
                Ok(()) => state.txn_open = true,
                // Typically the abort failed too (the broker is still away) and no fresh
                // producer could be made: the committer tries again (`reopen_transaction`).
                // Until then deliveries that produce wait in `admit`.
                Err(e) => {
                    result = result.and(Err(KafkaError::Transaction {
                        operation: "begin_transaction",
                        cause: e.to_string(),
                    }))
                }
            }
        }
        state.closing_txn = false;
        drop(state);
        self.reopened.notify_waiters();
        self.changed.notify_waiters();
        result
    }

    /// No transaction is open after a failed commit: start over with a fresh producer
    /// and begin one. An error leaves it closed for the committer's next attempt.
    fn reopen_transaction(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.replace_producer(timeout);
        let begun = self.txn().begin_transaction();
        let mut state = self.lock();
        if state.closed || state.failed.is_some() {
            return Ok(());
        }
        match begun {
            Ok(()) => {
                state.txn_open = true;
                drop(state);
                self.reopened.notify_waiters();
                self.changed.notify_waiters();
                Ok(())
            }
            Err(e) => Err(KafkaError::Transaction {
                operation: "begin_transaction",
                cause: e.to_string(),
            }),
        }
    }

    /// After a failed commit: abort, then start over with a fresh producer under the
    /// same transactional id (its `init_transactions` bumps the epoch cleanly; reusing
    /// the aborted one made librdkafka reject the next sends while it recovered its
    /// sequence numbers). Falls back to the aborted producer if that fails.
    fn replace_producer(&self, timeout: Duration) {
        let old = self.txn();
        let _ = old.abort_transaction(timeout);
        self.options.metrics.transaction_ended(false);
        if let Ok(fresh) = open_transactional(&self.txn_config, &self.txn_errors, timeout) {
            *self.txn.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
        }
    }

    fn send_and_commit(
        &self,
        group: Option<ConsumerGroupMetadata>,
        offsets: &[(i32, i64)],
        timeout: Duration,
    ) -> Result<(), CommitFailure> {
        let step = |operation: &'static str, e: RdKafkaError| {
            let fatal = matches!(&e, RdKafkaError::Transaction(t) if t.is_fatal());
            CommitFailure {
                fatal,
                error: KafkaError::Transaction {
                    operation,
                    cause: e.to_string(),
                },
            }
        };
        if !offsets.is_empty() {
            let group = group.ok_or_else(|| CommitFailure {
                fatal: false,
                error: KafkaError::Transaction {
                    operation: "send_offsets_to_transaction",
                    cause: "the consumer has no group metadata".into(),
                },
            })?;
            let mut list = TopicPartitionList::new();
            for (partition, offset) in offsets {
                list.add_partition_offset(&self.options.topic, *partition, Offset::Offset(*offset))
                    .map_err(|e| step("send_offsets_to_transaction", e))?;
            }
            self.txn()
                .send_offsets_to_transaction(&list, &group, timeout)
                .map_err(|e| step("send_offsets_to_transaction", e))?;
        }
        let mut attempt = 0;
        loop {
            match self.txn().commit_transaction(timeout) {
                Ok(()) => {
                    self.options.metrics.transaction_ended(true);
                    return Ok(());
                }
                Err(RdKafkaError::Transaction(t)) if t.is_retriable() && attempt < COMMIT_RETRIES => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(100 << attempt));
                }
                Err(e) => return Err(step("commit_transaction", e)),
            }
        }
    }

    /// Commits whenever something is committable: at once when nothing is in flight
    /// (a batch fully acknowledged), else at most every `commit_interval_ms`.
    pub async fn committer(self: Arc<Self>) {
        let interval = Duration::from_millis(self.options.commit_interval_ms);
        let mut backoff = Duration::from_millis(100);
        loop {
            tokio::select! {
                _ = self.stop.aborted() => return,
                _ = self.dirty.notified() => {}
            }
            tokio::select! {
                _ = self.stop.aborted() => return,
                _ = self.idle.notified() => {}
                _ = tokio::time::sleep(interval) => {}
            }
            let worker = self.clone();
            let cycle = tokio::task::spawn_blocking(move || {
                let group = worker.consumer.group_metadata();
                worker.commit_cycle(group, true, worker.options.revoke_grace)
            })
            .await;
            match cycle {
                Ok(Ok(())) => backoff = Duration::from_millis(100),
                _ => {
                    if self.lock().failed.is_some() {
                        self.changed.notify_waiters();
                        return;
                    }
                    tokio::select! {
                        _ = self.stop.aborted() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(COMMITTER_BACKOFF_MAX);
                    self.dirty.notify_one();
                }
            }
        }
    }
}

/// Creates a transactional producer and runs `init_transactions` (blocking: it fences
/// any earlier producer with the same `transactional.id` and aborts its open
/// transaction). No transaction is begun.
pub(crate) fn open_transactional(
    config: &ClientConfig,
    errors: &ReportingContext,
    timeout: Duration,
) -> Result<FutureProducer<ReportingContext>, KafkaError> {
    let producer: FutureProducer<ReportingContext> = config
        .create_with_context(errors.clone())
        .map_err(KafkaError::client_creation)?;
    producer
        .init_transactions(timeout)
        .map_err(|e| KafkaError::Transaction {
            operation: "init_transactions",
            cause: errors.last_error().unwrap_or_else(|| e.to_string()),
        })?;
    Ok(producer)
}

struct CommitFailure {
    fatal: bool,
    error: KafkaError,
}
