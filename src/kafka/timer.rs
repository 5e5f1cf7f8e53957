//! `KafkaTimer`: the engine's `Timer` on the durable timer service. Scheduling a job
//! writes a schedule message (see `scheduler::protocol`) to the schedules topic and
//! returns once Kafka has it; whichever worker owns the message's partition fires it
//! onto the jobs topic at the due time. Nothing waits in this process, so a sleeping
//! run holds no thread and no job slot, and survives any worker's death.
//!
//! The schedule's key is the job's id: scheduling the same job again (a redelivered
//! sleep node) replaces the pending schedule instead of adding a second one.

use std::sync::Arc;

use rdkafka::message::{Header, OwnedHeaders};

use super::scheduler::protocol::{EPOCH, EPOCH_MS, TARGET_KEY, TARGET_TOPIC};
use super::topics::{ensure_topics, TopicSpec};
use super::{KafkaError, KafkaJobTransport, KafkaOptions};
use crate::engine::job::Job;
use crate::engine::traits::{BackendError, BackendResult, BoxFuture, Timer};
use crate::errors::CodedError;

pub struct KafkaTimer {
    transport: Arc<KafkaJobTransport>,
    schedules_topic: String,
}

impl KafkaTimer {
    /// Creates the schedules topic (compacted) when missing.
    pub async fn new(
        kafka: &KafkaOptions,
        transport: Arc<KafkaJobTransport>,
        schedules_topic: &str,
    ) -> Result<Self, KafkaError> {
        ensure_topics(
            kafka,
            &[TopicSpec {
                name: schedules_topic.to_string(),
                partitions: transport.options().partitions,
                compacted: true,
            }],
        )
        .await?;
        Ok(KafkaTimer {
            transport,
            schedules_topic: schedules_topic.to_string(),
        })
    }

    /// Writes the schedule for `job` at `at_ms` (milliseconds since 1970).
    pub async fn schedule_job(&self, at_ms: u64, job: &Job) -> Result<(), KafkaError> {
        let payload = serde_json::to_vec(job).map_err(|e| KafkaError::Produce {
            topic: self.schedules_topic.clone(),
            cause: e.to_string(),
        })?;
        // kms reads whole seconds: round up so a kms-only reader never fires early.
        let seconds = at_ms.div_ceil(1000).to_string();
        let millis = at_ms.to_string();
        let headers = OwnedHeaders::new_with_capacity(4)
            .insert(Header {
                key: EPOCH,
                value: Some(&seconds),
            })
            .insert(Header {
                key: EPOCH_MS,
                value: Some(&millis),
            })
            .insert(Header {
                key: TARGET_TOPIC,
                value: Some(&self.transport.options().topic),
            })
            .insert(Header {
                key: TARGET_KEY,
                value: Some(&job.run_id),
            });
        // Traced and signed like a job: the scheduler copies the headers to the job it fires.
        let headers = crate::kafka::job_headers::job_headers(job, headers);
        let headers = self.transport.job_headers(headers, &payload);
        self.transport
            .produce_record(&self.schedules_topic, job.job_id.as_bytes(), &payload, headers)
            .await
    }
}

impl Timer for KafkaTimer {
    fn schedule<'a>(&'a self, at_ms: u64, job: Job) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            self.schedule_job(at_ms, &job)
                .await
                .map_err(|e| BackendError::new("kafka schedule", e.to_string()).caused_by(e.as_cause()))
        })
    }
}
