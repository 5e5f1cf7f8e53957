//! The pump: polls the group consumer until stopped, decodes messages into the
//! buffer (bad ones go to the error topic), pauses partitions while the buffer stays
//! full, drains consumer errors, and rewinds to the last commit after a failed one.

use std::sync::Arc;
use std::time::Instant;

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::*;
use crate::kafka::ledger::Original;
use crate::kafka::signing::signature_of;
use crate::kafka::transaction::original_headers;
use crate::kafka::transport_options::DeliveryMode;
use crate::kafka::wire::BadInput;

impl Worker {
    /// Polls the consumer until stopped; decoded jobs go to the buffer, bad ones to
    /// the error topic.
    pub async fn pump(self: Arc<Self>) {
        let capacity = self.options.max_buffered.max(1);
        let mut full_since: Option<Instant> = None;
        loop {
            let (rewind, buffered, paused) = {
                let state = self.lock();
                (state.needs_rewind, state.buffer.len(), state.paused)
            };
            if rewind && !self.seek_back() {
                // Poll meanwhile (rebalances must be served; what arrives is dropped
                // while the rewind is pending), and seek again shortly.
                tokio::select! {
                    _ = self.stop.aborted() => return,
                    _ = tokio::time::sleep(SEEK_RETRY_PAUSE) => {}
                }
            } else if rewind {
                continue;
            }
            if buffered >= capacity && !paused {
                // The worker usually drains the buffer within milliseconds: stop
                // polling for a moment (librdkafka keeps its bounded prefetch). Only if
                // it stays full, pause the partitions and keep polling, so the group
                // membership and rebalances are still served.
                let since = *full_since.get_or_insert_with(Instant::now);
                let left = PAUSE_AFTER.saturating_sub(since.elapsed());
                if !left.is_zero() {
                    tokio::select! {
                        _ = self.stop.aborted() => return,
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(left) => {}
                    }
                    continue;
                }
                self.set_paused(true);
            } else if buffered < capacity {
                full_since = None;
            }
            if paused && buffered <= capacity / 2 {
                self.set_paused(false);
            }
            let received = tokio::select! {
                _ = self.stop.aborted() => return,
                _ = self.wake.notified() => continue,
                _ = tokio::time::sleep(Duration::from_millis(250)) => continue,
                message = self.consumer.recv() => message,
            };
            match received {
                Ok(message) => self.accept(&message),
                Err(RdKafkaError::MessageConsumptionFatal(code)) => {
                    // The consumer is unusable for good (e.g. fenced as a static member):
                    // say so once, and make `receive` fail with the reason instead of
                    // idling silently.
                    let reason = format!(
                        "the jobs consumer failed fatally ({code}): this worker takes no more jobs, restart it"
                    );
                    self.kafka
                        .logger
                        .error(&reason, serde_json::json!({"topic": self.options.topic}));
                    self.lock().failed.get_or_insert(reason);
                    self.changed.notify_waiters();
                    self.reopened.notify_waiters();
                    return;
                }
                Err(_) => {
                    // The broker is away or a connect failed: librdkafka reconnects by
                    // itself. Such errors are events in the consumer's queue, in front of
                    // the rebalance that follows a broker restart: drain them at once.
                    // (Backing off per error, up to 5 s each, left that rebalance behind
                    // a minute of stale errors; the group expired the member meanwhile and
                    // the consumer was fenced for good, so no run progressed.)
                    tokio::select! {
                        _ = self.stop.aborted() => return,
                        _ = tokio::time::sleep(POLL_ERROR_PAUSE) => {}
                    }
                }
            }
        }
    }

    fn accept(self: &Arc<Self>, message: &BorrowedMessage<'_>) {
        let at = Position {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
        };
        let signed = match &self.options.job_signer {
            Some(signer) => signer
                .verify(
                    message.payload().unwrap_or_default(),
                    signature_of(message.headers()),
                )
                .map_err(BadInput::Signature),
            None => Ok(()),
        };
        let decoded = signed.and_then(|()| decode_job(message.payload(), at, self.options.max_message_bytes));
        let mut state = self.lock();
        let rewinding = state.needs_rewind && state.rewind_to.iter().any(|(p, _)| *p == at.partition);
        if rewinding || state.closed {
            // Read again after the seek (or by the next owner). Only partitions being
            // sought back: another one's message (a partition assigned since, with no
            // delivery the rewind could seek back to) would never come again.
            return;
        }
        match decoded {
            Ok(mut job) => {
                job.published_at_ms = message
                    .timestamp()
                    .to_millis()
                    .and_then(|ms| u64::try_from(ms).ok());
                if job.refs.is_none() {
                    job.refs = crate::kafka::job_headers::refs_from_headers(message.headers());
                }
                let original = Original {
                    payload: message.payload().unwrap_or_default().to_vec(),
                    key: (message.key() != Some(job.run_id.as_bytes()))
                        .then(|| message.key().map(<[u8]>::to_vec)),
                    headers: original_headers(message),
                };
                let receipt = state.ledger.track(at.partition, at.offset, Some(job.clone()));
                state.ledger.keep_original(receipt, original);
                state.buffer.push_back((receipt, job));
                drop(state);
                self.changed.notify_waiters();
            }
            Err(reason) => {
                self.options.metrics.dead_lettered(reason.label());
                self.kafka.logger.warn(
                    &format!(
                        "the message at {} is not a job and goes to '{}': {reason}",
                        at.describe(),
                        self.options.error_topic
                    ),
                    serde_json::json!({
                        "topic": at.topic,
                        "partition": at.partition,
                        "offset": at.offset,
                        "errorTopic": self.options.error_topic,
                        "reason": reason.to_string(),
                    }),
                );
                let receipt = state.ledger.track(at.partition, at.offset, None);
                let letter = crate::kafka::transaction::DeadLetter::from_message(message, reason.to_string());
                // Usually the transaction is open: produce now, keeping the letters in
                // order. During a commit, a task waits for the next transaction.
                let transactional = self.options.delivery == DeliveryMode::Transactional;
                let now = if transactional {
                    self.dead_letter_now(&mut state, receipt, &letter)
                } else {
                    // At-least-once: the receipt finishes only once the letter is
                    // acknowledged, in the task below.
                    Err(())
                };
                let delivery = match now {
                    Ok(None) => return,
                    Ok(Some(Ok(delivery))) => Some(delivery),
                    Ok(Some(Err(_))) | Err(()) => None,
                };
                drop(state);
                let worker = self.clone();
                tokio::spawn(async move {
                    if let Some(delivery) = delivery {
                        if worker.finish_dead_letter(Ok(delivery)).await.is_ok() {
                            return;
                        }
                    }
                    // Not produced yet (a commit was under way, or the send failed):
                    // retry until it is, or the partition is gone. Its offset stays
                    // unfinished meanwhile, so nothing is skipped.
                    let mut backoff = POLL_BACKOFF_FIRST;
                    while worker.lock().ledger.entry(receipt).is_some() && !worker.stop.is_aborted() {
                        if worker.dead_letter(receipt, letter.clone()).await.is_ok() {
                            return;
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(POLL_BACKOFF_MAX);
                    }
                });
            }
        }
    }

    /// Pauses (or resumes) fetching of every assigned partition.
    fn set_paused(&self, pause: bool) {
        let Ok(assignment) = self.consumer.assignment() else {
            return;
        };
        let done = if pause {
            self.consumer.pause(&assignment)
        } else {
            self.consumer.resume(&assignment)
        };
        if done.is_ok() {
            self.lock().paused = pause;
        }
    }

    /// After an aborted transaction: read every partition again from its last
    /// committed offset, forgetting what was delivered since. If the seek of a
    /// partition we still own fails, the rewind stays pending (every message is dropped
    /// meanwhile) and all of it is tried again: reading on would skip the jobs delivered
    /// since the commit, whose ledger entries are gone, and commit past them. `false`
    /// when the seek must be retried.
    fn seek_back(&self) -> bool {
        let points = std::mem::take(&mut self.lock().rewind_to);
        let mut list = TopicPartitionList::new();
        for (partition, offset) in &points {
            let _ = list.add_partition_offset(&self.options.topic, *partition, Offset::Offset(*offset));
        }
        let mut retry: Vec<(i32, i64)> = Vec::new();
        if list.count() > 0 {
            let owned: HashSet<i32> = self
                .consumer
                .assignment()
                .map(|a| a.elements().iter().map(|e| e.partition()).collect())
                .unwrap_or_default();
            let failed: HashSet<i32> = match self.consumer.seek_partitions(list, Duration::from_secs(5)) {
                Ok(result) => result
                    .elements()
                    .iter()
                    .filter(|e| e.error().is_err())
                    .map(|e| e.partition())
                    .collect(),
                Err(_) => points.iter().map(|(p, _)| *p).collect(),
            };
            // A partition no longer ours needs no seek: its next owner (or we, when it
            // comes back) starts from the committed offset. The others are sought
            // again together, since what they delivered meanwhile was dropped.
            if failed.iter().any(|p| owned.contains(p)) {
                retry = points.into_iter().filter(|(p, _)| owned.contains(p)).collect();
            }
        }
        let mut state = self.lock();
        let done = retry.is_empty();
        if done {
            state.needs_rewind = !state.rewind_to.is_empty();
        } else {
            // A newer rewind's points (if any) win over ours.
            for (partition, offset) in retry {
                if !state.rewind_to.iter().any(|(p, _)| *p == partition) {
                    state.rewind_to.push((partition, offset));
                }
            }
        }
        done
    }

    /// Forgets everything delivered since the last commit and asks the pump to read
    /// it again from there (after an aborted transaction).
    pub(crate) fn rewind(&self, state: &mut WorkerState) {
        let points = state.ledger.resume_points();
        let partitions = state.ledger.partitions();
        state.ledger.forget(&partitions);
        state.rewind_to.extend(points);
        state.buffer.clear();
        state.members.clear();
        state.needs_rewind = true;
        self.drained.notify_all();
        self.wake.notify_one();
    }
}
