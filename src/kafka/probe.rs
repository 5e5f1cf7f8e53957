//! Is Kafka there, and does a message make the trip? Used by `checkConnectivity` and by
//! `start()` to fail fast with a coded error instead of hanging.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::topics::{ensure_topics, TopicSpec};
use super::{KafkaError, KafkaOptions, ReportingContext};

#[derive(Debug, Clone)]
pub struct ClusterInfo {
    pub broker_count: usize,
    pub elapsed: Duration,
}

#[derive(Debug, Clone)]
pub struct RoundTrip {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub elapsed: Duration,
}

/// Asks the cluster for its metadata within `options.connect_timeout`.
pub async fn check_reachable(options: &KafkaOptions) -> Result<ClusterInfo, KafkaError> {
    let consumer: Arc<BaseConsumer<ReportingContext>> = Arc::new(
        options
            .client_config()
            .create_with_context(ReportingContext::default())
            .map_err(KafkaError::client_creation)?,
    );
    let timeout = options.connect_timeout;
    let started = Instant::now();
    // fetch_metadata blocks its thread: keep it off the async workers.
    let client = Arc::clone(&consumer);
    let metadata = tokio::task::spawn_blocking(move || client.fetch_metadata(None, timeout))
        .await
        .map_err(|e| unreachable(options, e.to_string()))?;
    match metadata {
        Ok(metadata) => Ok(ClusterInfo {
            broker_count: metadata.brokers().len(),
            elapsed: started.elapsed(),
        }),
        Err(e) => Err(unreachable(
            options,
            consumer.context().last_error().unwrap_or_else(|| e.to_string()),
        )),
    }
}

/// Produces one message to `topic` (created if missing) and reads that same message back.
pub async fn round_trip(options: &KafkaOptions, topic: &str) -> Result<RoundTrip, KafkaError> {
    check_reachable(options).await?;
    ensure_topics(
        options,
        &[TopicSpec {
            name: topic.to_string(),
            partitions: 1,
            compacted: false,
        }],
    )
    .await?;
    let started = Instant::now();
    let payload = format!("probe-{}", uuid::Uuid::new_v4());
    let producer_errors = ReportingContext::default();
    let producer: FutureProducer<ReportingContext> = options
        .client_config()
        .create_with_context(producer_errors.clone())
        .map_err(KafkaError::client_creation)?;
    let delivery = producer
        .send(
            FutureRecord::to(topic).key("probe").payload(&payload),
            options.connect_timeout,
        )
        .await
        .map_err(|(e, _)| KafkaError::Produce {
            topic: topic.to_string(),
            cause: producer_errors.last_error().unwrap_or_else(|| e.to_string()),
        })?;
    let consumer: StreamConsumer<ReportingContext> = options
        .client_config()
        .set("group.id", format!("flowcraft-probe-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .create_with_context(ReportingContext::default())
        .map_err(KafkaError::client_creation)?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, delivery.partition, Offset::Offset(delivery.offset))
        .map_err(|e| consume_error(topic, e.to_string()))?;
    consumer
        .assign(&assignment)
        .map_err(|e| consume_error(topic, e.to_string()))?;
    let message = tokio::time::timeout(options.connect_timeout, consumer.recv())
        .await
        .map_err(|_| consume_error(topic, "no message within the connect timeout".into()))?
        .map_err(|e| consume_error(topic, e.to_string()))?;
    if message.payload() != Some(payload.as_bytes()) {
        return Err(consume_error(
            topic,
            format!("read back a different message at offset {}", message.offset()),
        ));
    }
    producer.flush(options.connect_timeout).ok();
    Ok(RoundTrip {
        topic: topic.to_string(),
        partition: delivery.partition,
        offset: delivery.offset,
        elapsed: started.elapsed(),
    })
}

fn unreachable(options: &KafkaOptions, cause: String) -> KafkaError {
    KafkaError::Unreachable {
        brokers: options.brokers_list(),
        timeout_ms: options.connect_timeout.as_millis() as u64,
        cause,
    }
}

fn consume_error(topic: &str, cause: String) -> KafkaError {
    KafkaError::Consume {
        topic: topic.to_string(),
        cause,
    }
}
