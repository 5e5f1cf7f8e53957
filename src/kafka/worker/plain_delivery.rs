//! At-least-once delivery (the default, `DeliveryMode::AtLeastOnce`): successors and
//! dead letters go out on the worker's idempotent producer (`acks=all`) and are
//! acknowledged by the broker before the handling that caused them is acknowledged;
//! offsets are committed by the consumer below the lowest unfinished job. So a committed
//! offset never stands in front of a successor that is not on the topic, and a job
//! handled again after a crash finds the engine's done marker and stored result: its
//! effects are idempotent, as in seed 000's (LangGraph's) Kafka scheduler.
//!
//! Compared with the transactional mode, a hop no longer waits for a transaction
//! commit; in exchange a successor may be read before the job that caused it is
//! committed, and a crash between the two redelivers that job (its done marker makes
//! the second handling a no-op).

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};

use super::Worker;
use crate::engine::job::Job;
use crate::engine::traits::DeliveryReceipt;
use crate::kafka::signing::signed_job;
use crate::kafka::transaction::DeadLetter;
use crate::kafka::KafkaError;

impl Worker {
    /// Produces `jobs` (keyed by run id) and waits until the broker has them.
    pub(crate) async fn produce_acknowledged(&self, jobs: &[Job]) -> Result<(), KafkaError> {
        let topic = self.options.topic.as_str();
        let producer = self.txn();
        let mut deliveries = Vec::with_capacity(jobs.len());
        for job in jobs {
            let json = serde_json::to_string(job).map_err(|e| KafkaError::Produce {
                topic: topic.to_string(),
                cause: format!("job '{}' of run '{}': {e}", job.job_id, job.run_id),
            })?;
            let record = signed_job(
                &self.options,
                job,
                FutureRecord::to(topic).key(&job.run_id).payload(&json),
            );
            match producer.send_result(record) {
                Ok(delivery) => deliveries.push(delivery),
                Err((e, _)) => return Err(self.produce_error(topic, e)),
            }
        }
        self.await_deliveries(topic, deliveries).await
    }

    /// Writes `letter` to the error topic, then finishes `receipt`: its offset may be
    /// committed only once the letter is on the topic.
    pub(crate) async fn dead_letter_acknowledged(
        &self,
        receipt: DeliveryReceipt,
        letter: DeadLetter,
    ) -> Result<(), KafkaError> {
        let topic = self.options.error_topic.as_str();
        let delivery = self
            .txn()
            .send_result(letter.record(topic))
            .map_err(|(e, _)| self.produce_error(topic, e))?;
        self.await_deliveries(topic, vec![delivery]).await?;
        self.finished(self.lock(), receipt);
        Ok(())
    }

    /// Commits every partition's offset below its lowest unfinished job (blocking: call
    /// from a blocking thread or the rebalance callback). A failed commit changes
    /// nothing: the same offsets, or later ones, are committed on the next cycle.
    pub(crate) fn commit_offsets(&self) -> Result<(), KafkaError> {
        let _serial = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        let offsets = self.lock().ledger.committable();
        if offsets.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for (partition, offset) in &offsets {
            list.add_partition_offset(&self.options.topic, *partition, Offset::Offset(*offset))
                .map_err(|e| KafkaError::Consume {
                    topic: self.options.topic.clone(),
                    cause: format!("commit of partition {partition} at {offset}: {e}"),
                })?;
        }
        self.consumer
            .commit(&list, CommitMode::Sync)
            .map_err(|e| KafkaError::Consume {
                topic: self.options.topic.clone(),
                cause: format!("offset commit of group '{}': {e}", self.options.group_id),
            })?;
        self.lock().ledger.committed(&offsets);
        Ok(())
    }
}
