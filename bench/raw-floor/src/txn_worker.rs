//! The raw floor with exactly-once successors (`"transactional": true`): what the
//! addon's guarantee costs at the least. Batches of jobs are taken as the addon takes
//! them (until `concurrency`, or a 2 ms gap), their hops run concurrently, and their
//! successors, completions and consumed offsets are committed in one Kafka
//! transaction (KIP-447 `send_offsets_to_transaction`), read back `read_committed`.
//! No pipelining across transactions: the next batch starts after the commit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};

use crate::clients::BoxError;
use crate::worker::Hop;

const BATCH_IDLE_GAP: Duration = Duration::from_millis(2);
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn consume(hop: Arc<Hop>, consumer: Arc<StreamConsumer>) -> Result<(), BoxError> {
    let producer = hop.producer.clone();
    tokio::task::spawn_blocking(move || {
        producer.init_transactions(Duration::from_secs(30))?;
        producer.begin_transaction()
    })
    .await??;
    loop {
        let batch = take_batch(&consumer, hop.settings.concurrency.max(1)).await;
        if batch.is_empty() {
            continue;
        }
        let hops = batch.iter().map(|message| async {
            if let Some(payload) = message.payload() {
                if let Err(error) = hop.handle(payload).await {
                    eprintln!("hop failed: {error}");
                }
            }
        });
        futures::future::join_all(hops).await;
        commit(&hop, &consumer, &batch).await?;
    }
}

/// Waits for a first job, then takes what arrives with gaps under 2 ms, up to `max`.
async fn take_batch(consumer: &StreamConsumer, max: usize) -> Vec<OwnedMessage> {
    let mut batch = Vec::new();
    while batch.len() < max {
        let next = if batch.is_empty() {
            Ok(consumer.recv().await)
        } else {
            tokio::time::timeout(BATCH_IDLE_GAP, consumer.recv()).await
        };
        match next {
            Ok(Ok(message)) => batch.push(message.detach()),
            Ok(Err(error)) => {
                eprintln!("consume: {error}");
                break;
            }
            Err(_) => break,
        }
    }
    batch
}

/// Commits the batch's offsets with everything its hops produced, then opens the next
/// transaction. The librdkafka calls block: off the async threads.
async fn commit(hop: &Arc<Hop>, consumer: &Arc<StreamConsumer>, batch: &[OwnedMessage]) -> Result<(), BoxError> {
    let mut next: HashMap<i32, i64> = HashMap::new();
    for message in batch {
        let slot = next.entry(message.partition()).or_insert(0);
        *slot = (*slot).max(message.offset() + 1);
    }
    let mut offsets = TopicPartitionList::new();
    for (partition, offset) in next {
        offsets.add_partition_offset(&hop.settings.topic, partition, Offset::Offset(offset))?;
    }
    let group = consumer.group_metadata().ok_or("no consumer group metadata")?;
    let producer = hop.producer.clone();
    tokio::task::spawn_blocking(move || -> Result<(), BoxError> {
        producer.send_offsets_to_transaction(&offsets, &group, COMMIT_TIMEOUT)?;
        producer.commit_transaction(COMMIT_TIMEOUT)?;
        producer.begin_transaction()?;
        Ok(())
    })
    .await?
}
