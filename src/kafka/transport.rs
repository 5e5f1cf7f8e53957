//! `KafkaJobTransport`: the engine's `JobTransport` on a Kafka topic.
//!
//! # Guarantees
//!
//! **Messages.** Jobs travel on the jobs topic (default `flowcraft-jobs`) keyed by
//! runId, value = the job JSON. Producers use murmur2 partitioning
//! (`partitioner=murmur2_random`), like kafkajs and the Java client, so JS and native
//! producers put a run on the same partition. A reference payload
//! `{runId, blueprintId, nodeId, attempt?}` is accepted; its jobId is derived from
//! `topic/partition/offset` (see `wire`).
//!
//! **Never past an unfinished job.** Each worker consumes in group `groupId` with
//! `enable.auto.commit=false`, many jobs in flight at once (K1). Per partition the
//! transport tracks the in-flight offsets and commits only the lowest unfinished one
//! (or one past the highest finished when none is unfinished). A job acknowledged
//! `Redeliver` (an infrastructure error) stays unfinished and is handed out again by
//! this worker with a doubling backoff (100 ms .. 30 s); it holds its partition's
//! commit back, so if the worker dies the next owner gets it again. A new group starts
//! from the earliest offset (K8).
//!
//! **Delivery modes.** `DeliveryMode::AtLeastOnce` (the default; see
//! `worker::plain_delivery`): successors are produced by an idempotent producer and
//! acknowledged before the job that caused them is acknowledged, and the consumer commits
//! offsets below the lowest unfinished job; a job redelivered after a crash is absorbed by
//! the engine's done markers. `DeliveryMode::Transactional`, described next, commits
//! successors and offsets together.
//!
//! **Transactions.** Offsets are never committed by the consumer: each worker has a
//! transactional producer, and offsets go in with `send_offsets_to_transaction` (with
//! the consumer's group metadata, KIP-447), together with the dead letters of the same
//! period and the successors produced through `enqueue_from`.
//! Consumers read with `isolation.level=read_committed`. So:
//! - a job's successors become visible in the same atomic step as
//!   its offset commit; a worker killed between producing them and committing leaves
//!   an open transaction that is aborted (fenced at once by a restarted worker with
//!   the same `transactional_id`, else after `transaction.timeout.ms`): the job is
//!   redelivered, its earlier successors never appear;
//! - a transaction commits when its members (deliveries that produced into it) are
//!   acknowledged, on every fully acknowledged batch, or every `commitIntervalMs`
//!   while others are still running; newcomers wait for the next transaction;
//! - on a revoke (cooperative-sticky rebalancing: only moving partitions are revoked)
//!   the rebalance callback commits what is finished before the partitions go, and
//!   forgets their in-flight jobs (late acknowledgements are ignored; the next owner
//!   resumes from the commit, so those jobs run again there: the engine's idempotent
//!   state writes and done-guard absorb that);
//! - a commit that fails is aborted, and the pump seeks every partition back to its
//!   last committed offset (again until the seek succeeds): everything since is
//!   delivered again, nothing is lost. The next transaction begins on a fresh producer
//!   once the broker answers. A fenced producer (usually: our open transaction outlived
//!   `transaction.timeout.ms` while the broker was away, and the coordinator aborted it)
//!   is recovered the same way, up to 5 times in 10 minutes; beyond that, or when the
//!   consumer itself fails fatally (fenced as a static member), the transport stops:
//!   `receive` fails with `ERR_KAFKA_CLOSED`;
//! - consumer errors (a broker away) are drained at once, so the rebalance that follows
//!   a broker restart is served within the session timeout;
//! - zombie fencing does not depend on the transactional id (the group generation in
//!   the offsets does, KIP-447), so the default id is unique per process; a stable one
//!   only shortens the wait for a dead worker's open transaction.
//!
//! **Enqueues outside job handling** (startRun, resume, timers: the engine calls
//! `enqueue`) go through a separate idempotent producer (`acks=all`) and are durable
//! when `enqueue` returns: a caller that got a runId back must find the run's jobs on
//! the topic whatever happens to this process next. They cannot ride the worker's
//! transaction, which may still be aborted after the call returned.
//!
//! **Enqueues during job handling** (the engine calls `enqueue_from(receipt, jobs)`)
//! ride the transaction that commits `receipt`'s offset. If that transaction is lost,
//! the job comes back; the engine's done marker (which Redis keeps even when Kafka
//! aborts) lists what the job dispatched, and the redelivered job publishes the
//! still-outstanding ones again, in the new transaction. A job acknowledged
//! `Redeliver` after it already published some successors lets those commit with the
//! transaction; its retry publishes them again under the same derived jobIds, and the
//! done-guard skips the copies (at-least-once in that corner only).
//!
//! **Bad input** (not JSON, missing fields, over `maxMessageBytes`) goes to the error
//! topic with `flowcraft-error-*` headers (reason, source position, size) and the
//! original bytes (cut to 64 KiB when oversize), in the transaction that commits its
//! offset: the worker keeps going, the offset advances, the letter appears once (K7).
//! The engine can dead-letter a delivery itself with [`KafkaJobTransport::dead_letter`].
//!
//! **Long jobs (K2).** A background pump keeps polling the consumer while jobs run
//! (librdkafka heartbeats on its own thread), pausing partitions when `maxBuffered`
//! jobs wait, so a slow node never makes the worker leave the group.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::Consumer;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tokio::task::JoinHandle;

use super::ledger::Original;
use super::probe::check_reachable;
use super::signing::signed_job;
use super::topics::{ensure_topics, TopicSpec};
use super::transaction::{open_transactional, DeadLetter};
use super::transport_options::DeliveryMode;
use super::worker::Worker;
use super::{KafkaError, KafkaOptions, KafkaTransportOptions, ReportingContext};
use crate::engine::job::Job;
use crate::engine::traits::{
    BackendError, BackendResult, BoxFuture, Delivery, DeliveryReceipt, JobDisposition, JobTransport,
};
use crate::errors::CodedError;

struct Clients {
    producer: FutureProducer<ReportingContext>,
    producer_errors: ReportingContext,
    worker: Option<Arc<Worker>>,
}

pub struct KafkaJobTransport {
    options: KafkaTransportOptions,
    kafka: KafkaOptions,
    clients: RwLock<Option<Arc<Clients>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl KafkaJobTransport {
    /// A client that only publishes jobs (startRun, resume): no consumer, no group.
    /// Fails with `ERR_KAFKA_UNREACHABLE` when no broker answers within
    /// `kafka.connect_timeout`. Creates the jobs and error topics when missing.
    pub async fn producer_only(
        kafka: KafkaOptions,
        options: KafkaTransportOptions,
    ) -> Result<Self, KafkaError> {
        let producer = Self::prepare(&kafka, &options).await?;
        Ok(Self::assemble(kafka, options, producer, None))
    }

    /// A worker: publishes, and consumes in group `options.group_id` with
    /// transactional commits. Same reachability and topic behaviour as
    /// `producer_only`.
    pub async fn worker(kafka: KafkaOptions, options: KafkaTransportOptions) -> Result<Self, KafkaError> {
        let producer = Self::prepare(&kafka, &options).await?;
        let txn_errors = ReportingContext::default();
        if options.delivery == DeliveryMode::AtLeastOnce {
            let config = idempotent_producer_config(&kafka);
            let successors = config
                .create_with_context(txn_errors.clone())
                .map_err(KafkaError::client_creation)?;
            let worker = Worker::new(kafka.clone(), options.clone(), successors, config, txn_errors)?;
            return Ok(Self::start_worker(kafka, options, producer, worker));
        }
        let mut txn_config = producer_config(&kafka);
        if !kafka.config.contains_key("transaction.timeout.ms") {
            // A killed worker's open transaction blocks read_committed readers of its
            // partitions until the broker aborts it: keep that short (librdkafka: 60 s).
            txn_config.set("transaction.timeout.ms", "15000");
        }
        txn_config.set(
            "transactional.id",
            options.resolved_transactional_id(&kafka.client_id),
        );
        // init_transactions blocks (and fences an earlier instance with our id).
        let init_timeout = kafka.connect_timeout.max(Duration::from_secs(30));
        let (config, errors) = (txn_config.clone(), txn_errors.clone());
        let txn = tokio::task::spawn_blocking(move || {
            let txn = open_transactional(&config, &errors, init_timeout)?;
            txn.begin_transaction().map_err(|e| KafkaError::Transaction {
                operation: "begin_transaction",
                cause: e.to_string(),
            })?;
            Ok::<_, KafkaError>(txn)
        })
        .await
        .map_err(|e| KafkaError::Transaction {
            operation: "init_transactions",
            cause: e.to_string(),
        })??;
        let worker = Worker::new(kafka.clone(), options.clone(), txn, txn_config, txn_errors)?;
        Ok(Self::start_worker(kafka, options, producer, worker))
    }

    fn start_worker(
        kafka: KafkaOptions,
        options: KafkaTransportOptions,
        producer: (FutureProducer<ReportingContext>, ReportingContext),
        worker: Arc<Worker>,
    ) -> Self {
        let tasks = vec![
            tokio::spawn(worker.clone().pump()),
            tokio::spawn(worker.clone().committer()),
        ];
        let transport = Self::assemble(kafka, options, producer, Some(worker));
        *transport.tasks.lock().unwrap_or_else(|p| p.into_inner()) = tasks;
        transport
    }

    async fn prepare(
        kafka: &KafkaOptions,
        options: &KafkaTransportOptions,
    ) -> Result<(FutureProducer<ReportingContext>, ReportingContext), KafkaError> {
        kafka.validate()?;
        options.validate()?;
        check_reachable(kafka).await?;
        let spec = |name: &str| TopicSpec {
            name: name.to_string(),
            partitions: options.partitions,
            compacted: false,
        };
        ensure_topics(kafka, &[spec(&options.topic), spec(&options.error_topic)]).await?;
        let errors = ReportingContext::default();
        let producer = idempotent_producer_config(kafka)
            .create_with_context(errors.clone())
            .map_err(KafkaError::client_creation)?;
        Ok((producer, errors))
    }

    fn assemble(
        kafka: KafkaOptions,
        options: KafkaTransportOptions,
        (producer, producer_errors): (FutureProducer<ReportingContext>, ReportingContext),
        worker: Option<Arc<Worker>>,
    ) -> Self {
        KafkaJobTransport {
            options,
            kafka,
            clients: RwLock::new(Some(Arc::new(Clients {
                producer,
                producer_errors,
                worker,
            }))),
            tasks: Mutex::new(Vec::new()),
        }
    }

    pub fn options(&self) -> &KafkaTransportOptions {
        &self.options
    }

    fn clients(&self) -> Result<Arc<Clients>, KafkaError> {
        self.clients
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| KafkaError::Closed {
                reason: "close() was called".into(),
            })
    }

    pub(crate) fn worker_side(&self) -> Result<Arc<Worker>, KafkaError> {
        self.clients()?.worker.clone().ok_or_else(|| KafkaError::Closed {
            reason: "this transport was created producer-only: it cannot receive".into(),
        })
    }

    /// Publishes jobs durably (idempotent producer, acks=all): when this returns, the
    /// jobs are on the topic. Keyed by runId.
    pub async fn publish(&self, jobs: Vec<Job>) -> Result<(), KafkaError> {
        let clients = self.clients()?;
        let topic = &self.options.topic;
        let mut payloads = Vec::with_capacity(jobs.len());
        for job in &jobs {
            let json = serde_json::to_string(job).map_err(|e| KafkaError::Produce {
                topic: topic.clone(),
                cause: e.to_string(),
            })?;
            payloads.push((job.run_id.as_str(), json));
        }
        let sends: Vec<_> = payloads
            .iter()
            .zip(&jobs)
            .map(|((key, json), job)| {
                let record = FutureRecord::to(topic).key(*key).payload(json);
                clients
                    .producer
                    .send(signed_job(&self.options, job, record), self.kafka.connect_timeout)
            })
            .collect();
        for outcome in futures::future::join_all(sends).await {
            outcome.map_err(|(e, _)| KafkaError::Produce {
                topic: topic.clone(),
                cause: match clients.producer_errors.last_error() {
                    Some(detail) => format!("{e} ({detail})"),
                    None => e.to_string(),
                },
            })?;
        }
        Ok(())
    }

    /// Produces one message durably (idempotent producer, acks=all) to any topic: the
    /// timer's schedules go through here.
    pub async fn produce_record(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: rdkafka::message::OwnedHeaders,
    ) -> Result<(), KafkaError> {
        let clients = self.clients()?;
        let record = FutureRecord::to(topic).key(key).payload(payload).headers(headers);
        clients
            .producer
            .send(record, self.kafka.connect_timeout)
            .await
            .map(|_| ())
            .map_err(|(e, _)| KafkaError::Produce {
                topic: topic.to_string(),
                cause: match clients.producer_errors.last_error() {
                    Some(detail) => format!("{e} ({detail})"),
                    None => e.to_string(),
                },
            })
    }

    /// Publishes successors of the delivery `origin` inside the worker's transaction:
    /// they become visible exactly when `origin`'s offset is committed (after
    /// `acknowledge(origin, Done)`), and never if the worker dies first.
    pub async fn publish_from(&self, origin: DeliveryReceipt, jobs: Vec<Job>) -> Result<(), KafkaError> {
        if jobs.is_empty() {
            return Ok(());
        }
        self.worker_side()?.enqueue_in_transaction(origin, jobs).await
    }

    /// Sends a delivery to the error topic with `reason` (e.g. unknown blueprint) and
    /// finishes it, atomically with its offset commit. No need to acknowledge it after.
    pub async fn dead_letter(&self, receipt: DeliveryReceipt, reason: &str) -> Result<(), KafkaError> {
        let worker = self.worker_side()?;
        let letter = {
            let state = worker.lock();
            let Some(entry) = state.ledger.entry(receipt) else {
                return Ok(());
            };
            let job = entry.job.as_ref();
            let original = entry.original.clone().unwrap_or_else(|| Original {
                payload: job
                    .and_then(|job| serde_json::to_vec(job).ok())
                    .unwrap_or_default(),
                ..Original::default()
            });
            let (value, truncated) = super::wire::dead_letter_value(Some(&original.payload));
            let run_id_key = || job.map(|j| j.run_id.clone().into_bytes());
            DeadLetter {
                key: original.key.clone().unwrap_or_else(run_id_key),
                original_size: original.payload.len(),
                value: value.to_vec(),
                headers: original.headers,
                truncated,
                source: format!("{}/{}@{}", self.options.topic, entry.partition, entry.offset),
                reason: reason.to_string(),
            }
        };
        let (source, error_topic) = (letter.source.clone(), self.options.error_topic.clone());
        worker.dead_letter(receipt, letter).await?;
        self.options.metrics.dead_lettered("rejected");
        self.kafka.logger.warn(
            &format!("the job at {source} is refused and goes to '{error_topic}': {reason}"),
            serde_json::json!({"source": source, "errorTopic": error_topic, "reason": reason}),
        );
        Ok(())
    }

    /// Signs `payload` when the deployment signs jobs (the schedules topic carries jobs too).
    pub fn job_headers(
        &self,
        headers: rdkafka::message::OwnedHeaders,
        payload: &[u8],
    ) -> rdkafka::message::OwnedHeaders {
        match &self.options.job_signer {
            Some(signer) => signer.signed(headers, payload),
            None => headers,
        }
    }

    /// librdkafka's most recent error text from any of this transport's clients.
    pub fn last_error(&self) -> Option<String> {
        let clients = self.clients().ok()?;
        let worker = clients.worker.as_ref();
        worker
            .and_then(|w| {
                w.consumer_errors
                    .last_error()
                    .or_else(|| w.txn_errors.last_error())
            })
            .or_else(|| clients.producer_errors.last_error())
    }

    /// Partitions of the jobs topic this worker owns right now.
    pub fn assigned_partitions(&self) -> Vec<i32> {
        let Ok(worker) = self.worker_side() else {
            return Vec::new();
        };
        let mut partitions: Vec<i32> = worker
            .consumer
            .assignment()
            .map(|list| list.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default();
        partitions.sort_unstable();
        partitions
    }

    /// Delivered jobs not yet acknowledged (0 for a producer-only transport).
    pub fn in_flight(&self) -> usize {
        self.worker_side().map_or(0, |w| w.in_flight())
    }

    /// Stops fetching (`receive` returns empty batches), waits up to `close_grace`
    /// for in-flight jobs to be acknowledged, commits, leaves the group and drops
    /// every client (no librdkafka thread is left behind). Idempotent.
    pub async fn close(&self) -> Result<(), KafkaError> {
        let Some(clients) = self.clients.write().unwrap_or_else(|p| p.into_inner()).take() else {
            return Ok(());
        };
        let mut result = Ok(());
        if let Some(worker) = &clients.worker {
            worker.lock().closed = true;
            worker.changed.notify_waiters();
            let deadline = Instant::now() + self.options.close_grace;
            while worker.in_flight() > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            worker.stop.abort("close");
            self.join_tasks().await;
            let final_commit = worker.clone();
            result = tokio::task::spawn_blocking(move || {
                let group = final_commit.consumer.group_metadata();
                final_commit.commit_cycle(group, false, Duration::ZERO)
            })
            .await
            .unwrap_or(Ok(()));
        }
        let timeout = self.kafka.connect_timeout;
        let _ = tokio::task::spawn_blocking(move || {
            let _ = clients.producer.flush(timeout);
            if let Some(worker) = &clients.worker {
                worker.consumer.unsubscribe();
            }
            drop(clients);
        })
        .await;
        result
    }

    async fn join_tasks(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
    }

    /// Test hook: dies like a killed process (no commit, no abort, open transaction
    /// left on the broker), but still closes the sockets so the group rebalances.
    #[cfg(all(test, feature = "stack-tests"))]
    pub(crate) async fn crash(&self) {
        let Some(clients) = self.clients.write().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        if let Some(worker) = &clients.worker {
            let mut state = worker.lock();
            state.crashed = true;
            state.closed = true;
            drop(state);
            worker.stop.abort("crash");
            worker.changed.notify_waiters();
        }
        self.join_tasks().await;
        let _ = tokio::task::spawn_blocking(move || drop(clients)).await;
    }
}

impl Drop for KafkaJobTransport {
    /// Dropped without `close()`: stop the background tasks so the clients go too
    /// (nothing is committed beyond what already was).
    fn drop(&mut self) {
        let clients = self.clients.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(worker) = clients.as_ref().and_then(|c| c.worker.as_ref()) {
            worker.lock().closed = true;
            worker.stop.abort("dropped");
            worker.changed.notify_waiters();
        }
    }
}

fn producer_config(kafka: &KafkaOptions) -> ClientConfig {
    let mut config = kafka.client_config();
    for (key, value) in [
        ("partitioner", "murmur2_random"),
        ("acks", "all"),
        ("linger.ms", "1"),
    ] {
        if !kafka.config.contains_key(key) {
            config.set(key, value);
        }
    }
    config
}

/// Durable, ordered, never duplicated by retries: for everything not in a transaction.
fn idempotent_producer_config(kafka: &KafkaOptions) -> ClientConfig {
    let mut config = producer_config(kafka);
    if !kafka.config.contains_key("enable.idempotence") {
        config.set("enable.idempotence", "true");
    }
    config
}

fn backend(operation: &'static str) -> impl Fn(KafkaError) -> BackendError {
    move |e| BackendError::new(operation, e.to_string()).caused_by(e.as_cause())
}

impl JobTransport for KafkaJobTransport {
    fn enqueue<'a>(&'a self, jobs: Vec<Job>) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move { self.publish(jobs).await.map_err(backend("kafka enqueue")) })
    }

    fn enqueue_from<'a>(
        &'a self,
        origin: DeliveryReceipt,
        jobs: Vec<Job>,
    ) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            self.publish_from(origin, jobs)
                .await
                .map_err(backend("kafka enqueue_from"))
        })
    }

    fn receive<'a>(&'a self, max: usize) -> BoxFuture<'a, BackendResult<Vec<Delivery>>> {
        Box::pin(async move {
            let worker = match self.worker_side() {
                Ok(worker) => worker,
                // Closed: the worker loop ends on an empty batch.
                Err(KafkaError::Closed { .. }) if self.clients().is_err() => return Ok(Vec::new()),
                Err(e) => return Err(backend("kafka receive")(e)),
            };
            worker.receive(max).await.map_err(backend("kafka receive"))
        })
    }

    fn generation(&self) -> Option<u64> {
        let worker = self.worker_side().ok()?;
        Some(worker.generation.load(std::sync::atomic::Ordering::SeqCst))
    }

    fn source_of(&self, receipt: DeliveryReceipt) -> Option<String> {
        let worker = self.worker_side().ok()?;
        let state = worker.lock();
        let entry = state.ledger.entry(receipt)?;
        Some(format!(
            "{}/{}@{}",
            self.options.topic, entry.partition, entry.offset
        ))
    }

    fn acknowledge<'a>(
        &'a self,
        receipt: DeliveryReceipt,
        disposition: JobDisposition,
    ) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            if let JobDisposition::Reject { reason } = &disposition {
                return self
                    .dead_letter(receipt, reason)
                    .await
                    .map_err(|e| BackendError::new("dead letter", e.to_string()).caused_by(e.as_cause()));
            }
            // After close, unacknowledged jobs are simply not committed.
            if let Ok(worker) = self.worker_side() {
                worker.acknowledge(receipt, disposition);
            }
            Ok(())
        })
    }
}
