//! The results topic (default `flowcraft-results`): every result a run publishes
//! (`awaiting`, `completed`, `failed`) is announced there, keyed by run id, so a process
//! waiting for a run that other processes execute hears of it at once instead of
//! polling the status row. Announcements are hints: the status row stays the truth
//! (see `adapter::announced_status`), so a lost or missed announcement only makes a
//! waiter fall back to its slower re-reads.
//!
//! Every process reads every partition from its end, without a consumer group (each
//! must see all results; none commits anything).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::job_headers;
use super::topics::{ensure_topics, TopicSpec};
use super::{KafkaError, KafkaJobTransport, KafkaOptions, ReportingContext};
use crate::engine::run::{FailedNode, PublishedResult, RunStatus};

pub const DEFAULT_RESULTS_TOPIC: &str = "flowcraft-results";

/// What a waiter is woken with: the announced result when it could be read.
type Heard = Option<PublishedResult>;
type Waiters = HashMap<String, Vec<(u64, oneshot::Sender<Heard>)>>;

pub struct ResultsFeed {
    topic: String,
    transport: Arc<KafkaJobTransport>,
    waiters: Arc<Mutex<Waiters>>,
    next_waiter: AtomicU64,
    listener: Mutex<Option<JoinHandle<()>>>,
}

/// Registered interest in one run's next announcement; unregisters when dropped.
pub struct Listening {
    heard: oneshot::Receiver<Heard>,
    waiters: Arc<Mutex<Waiters>>,
    run_id: String,
    id: u64,
}

impl Listening {
    /// Resolves when the run announces a result (or the feed closes): the result, when
    /// the announcement carried one that could be read.
    pub async fn heard(&mut self) -> Heard {
        (&mut self.heard).await.ok().flatten()
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let mut waiters = lock(&self.waiters);
        if let Some(list) = waiters.get_mut(&self.run_id) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                waiters.remove(&self.run_id);
            }
        }
    }
}

impl ResultsFeed {
    /// Creates the topic when missing and starts reading it from its end.
    pub async fn start(
        kafka: &KafkaOptions,
        transport: Arc<KafkaJobTransport>,
        topic: &str,
    ) -> Result<Self, KafkaError> {
        ensure_topics(
            kafka,
            &[TopicSpec {
                name: topic.to_string(),
                partitions: transport.options().partitions,
                compacted: false,
            }],
        )
        .await?;
        let consumer = listen_from_end(kafka, topic).await?;
        let waiters: Arc<Mutex<Waiters>> = Arc::default();
        let listener = tokio::spawn(deliver(
            consumer,
            waiters.clone(),
            topic.to_string(),
            kafka.logger.clone(),
        ));
        Ok(ResultsFeed {
            topic: topic.to_string(),
            transport,
            waiters,
            next_waiter: AtomicU64::new(0),
            listener: Mutex::new(Some(listener)),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Starts listening for `run_id`'s next announcement. Register before reading the
    /// status row, so a result published in between is not missed.
    pub fn listen(&self, run_id: &str) -> Listening {
        let (sender, heard) = oneshot::channel();
        let id = self.next_waiter.fetch_add(1, Ordering::Relaxed);
        lock(&self.waiters)
            .entry(run_id.to_string())
            .or_default()
            .push((id, sender));
        Listening {
            heard,
            waiters: self.waiters.clone(),
            run_id: run_id.to_string(),
            id,
        }
    }

    /// Wakes this process's waiters for `run_id` at once with the result (the
    /// announcement reaches the others through the topic).
    pub fn wake(&self, run_id: &str, result: &PublishedResult) {
        wake(&self.waiters, run_id, Some(result));
    }

    /// Announces a result the status row accepted. A final context too large for one
    /// message is left out: a waiter hearing the result then loads it from the store.
    /// Announces `result`; with the trace of the node that settled the run, its headers
    /// carry `traceparent` (that node's span) and the run id, as job messages do.
    pub async fn announce(
        &self,
        run_id: &str,
        result: &PublishedResult,
        trace: Option<&crate::engine::trace::NodeTrace>,
    ) -> Result<(), KafkaError> {
        let mut announcement = Announcement {
            run_id: run_id.to_string(),
            status: result.status,
            reason: result.reason.clone(),
            failed_node: result.failed_node.clone(),
            context: result.context.clone(),
            published_at_ms: result.published_at_ms,
        };
        let encode = |announcement: &Announcement| {
            serde_json::to_vec(announcement).map_err(|e| KafkaError::Produce {
                topic: self.topic.clone(),
                cause: e.to_string(),
            })
        };
        let mut payload = encode(&announcement)?;
        if payload.len() > MAX_ANNOUNCEMENT_BYTES && announcement.context.is_some() {
            announcement.context = None;
            payload = encode(&announcement)?;
        }
        let trace = trace.map(|trace| (trace.traceparent.as_str(), trace.tracestate.as_deref()));
        let headers = job_headers::run_trace_headers(OwnedHeaders::new_with_capacity(3), run_id, trace);
        self.transport
            .produce_record(&self.topic, run_id.as_bytes(), &payload, headers)
            .await
    }

    /// Stops reading; waiters still registered fall back to their status-row reads.
    pub fn close(&self) {
        if let Some(listener) = lock(&self.listener).take() {
            listener.abort();
        }
    }
}

impl Drop for ResultsFeed {
    fn drop(&mut self) {
        self.close();
    }
}

fn wake(waiters: &Mutex<Waiters>, run_id: &str, result: Option<&PublishedResult>) {
    let listening = lock(waiters).remove(run_id);
    for (_, sender) in listening.into_iter().flatten() {
        let _ = sender.send(result.cloned());
    }
}

/// Largest announcement sent whole: below librdkafka's default `message.max.bytes`
/// (1,000,000), with room for the key and headers.
const MAX_ANNOUNCEMENT_BYTES: usize = 900_000;

/// The value of an announcement on the results topic (keyed by run id).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Announcement {
    run_id: String,
    status: RunStatus,
    reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failed_node: Option<FailedNode>,
    context: Option<Map<String, Value>>,
    published_at_ms: u64,
}

/// The result an announcement carries, if readable.
fn announced(payload: Option<&[u8]>) -> Option<PublishedResult> {
    let announcement: Announcement = serde_json::from_slice(payload?).ok()?;
    Some(PublishedResult {
        status: announcement.status,
        failed_node: announcement.failed_node,
        reason: announcement.reason,
        context: announcement.context,
        published_at_ms: announcement.published_at_ms,
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn listen_from_end(
    kafka: &KafkaOptions,
    topic: &str,
) -> Result<StreamConsumer<ReportingContext>, KafkaError> {
    let consume_error = |cause: String| KafkaError::Consume {
        topic: topic.to_string(),
        cause,
    };
    let mut config = kafka.client_config();
    // No group membership: `assign` below, nothing committed.
    config
        .set("group.id", format!("{}-results-listener", kafka.client_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "10")
        .set("queued.max.messages.kbytes", "4096");
    let consumer: StreamConsumer<ReportingContext> = config
        .create_with_context(ReportingContext::default())
        .map_err(KafkaError::client_creation)?;
    let timeout = kafka.connect_timeout;
    let (consumer, partitions) = tokio::task::spawn_blocking({
        let topic = topic.to_string();
        move || {
            // A topic created a moment ago may show no partitions in the broker's
            // metadata yet: ask again until the connect timeout.
            let deadline = std::time::Instant::now() + timeout;
            loop {
                let partitions = consumer.fetch_metadata(Some(&topic), timeout).map(|m| {
                    m.topics()
                        .iter()
                        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                        .collect::<Vec<i32>>()
                });
                let settled = !matches!(&partitions, Ok(found) if found.is_empty());
                if settled || std::time::Instant::now() >= deadline {
                    return (consumer, partitions);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    })
    .await
    .map_err(|e| consume_error(e.to_string()))?;
    let partitions = partitions.map_err(|e| consume_error(format!("reading its partitions: {e}")))?;
    if partitions.is_empty() {
        return Err(consume_error("the topic has no partitions".into()));
    }
    let mut assignment = TopicPartitionList::new();
    for partition in partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::End)
            .map_err(|e| consume_error(e.to_string()))?;
    }
    consumer
        .assign(&assignment)
        .map_err(|e| consume_error(e.to_string()))?;
    Ok(consumer)
}

async fn deliver(
    consumer: StreamConsumer<ReportingContext>,
    waiters: Arc<Mutex<Waiters>>,
    topic: String,
    logger: crate::engine::Logger,
) {
    let mut failures = 0u32;
    loop {
        match consumer.recv().await {
            Ok(message) => {
                failures = 0;
                let Some(run_id) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else {
                    continue;
                };
                // Only a local waiter: it reads the row when the payload is unreadable.
                if lock(&waiters).contains_key(run_id) {
                    wake(&waiters, run_id, announced(message.payload()).as_ref());
                }
            }
            Err(error) => {
                // librdkafka retries by itself; waiters re-read the status row meanwhile.
                failures += 1;
                if failures == 1 || failures.is_multiple_of(100) {
                    logger.warn(
                        &format!("reading results topic '{topic}' failed ({failures}x): {error}"),
                        serde_json::json!({"topic": topic, "failures": failures}),
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
