//! Settings of the Kafka job transport (the connection itself is `KafkaOptions`).

use std::sync::Arc;
use std::time::Duration;

use super::signing::JobSigner;
use super::topics::check_kafka_name;
use super::KafkaError;
use crate::metrics::Metrics;

/// How a worker makes the successors of a job and its offset commit agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeliveryMode {
    /// Kafka at-least-once: successors are produced by the idempotent producer
    /// (`acks=all`) and acknowledged before the offset that caused them is committed.
    /// A redelivered or duplicated job changes nothing: the engine's done markers,
    /// stored results and derived job ids make its effects idempotent.
    #[default]
    AtLeastOnce,
    /// Successors, dead letters and offsets are committed in one Kafka transaction per
    /// batch (read_committed consumers never see the successors of an uncommitted job).
    /// Costs a transaction commit per batch: a few milliseconds per hop.
    Transactional,
}

impl DeliveryMode {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "at-least-once" => Some(DeliveryMode::AtLeastOnce),
            "transactional" => Some(DeliveryMode::Transactional),
            _ => None,
        }
    }
}

/// Jobs topic, consumer group, batching, error topic and limits. Defaults are the
/// reference adapter's names (`flowcraft-jobs`, `flowcraft-workers`).
#[derive(Debug, Clone)]
pub struct KafkaTransportOptions {
    /// Topic the jobs travel on (key = runId).
    pub topic: String,
    /// Consumer group of the workers.
    pub group_id: String,
    /// Most jobs one `receive` returns.
    pub batch_max_n: usize,
    /// Longest a `receive` keeps filling a batch once it holds a first job. It never
    /// lingers on an idle topic: a batch closes as soon as nothing more is ready.
    pub batch_max_ms: u64,
    /// Where malformed or rejected jobs go, with the reason in headers.
    pub error_topic: String,
    /// Partition count for topics this transport creates.
    pub partitions: i32,
    /// A job message larger than this is dead-lettered instead of parsed.
    pub max_message_bytes: usize,
    /// `transactional.id` of the worker's producer. `None`: one derived from the group,
    /// the client id and a random suffix (unique per process). Give a stable id per
    /// worker instance (e.g. `flowcraft-worker-3`) to have a restarted worker fence its
    /// predecessor's open transaction at once instead of after `transaction.timeout.ms`.
    pub transactional_id: Option<String>,
    /// At-least-once (default) or transactional successors and offsets.
    pub delivery: DeliveryMode,
    /// How long acknowledged jobs may wait to be committed while others are still in
    /// flight; when nothing is in flight the commit happens at once.
    pub commit_interval_ms: u64,
    /// Jobs prefetched but not yet handed to the worker; above it the partitions are
    /// paused (the consumer keeps polling, so it stays in the group).
    pub max_buffered: usize,
    /// On `close()`, how long to wait for in-flight jobs to be acknowledged.
    pub close_grace: Duration,
    /// On a revoke, how long to wait for jobs that are producing successors to finish.
    pub revoke_grace: Duration,
    /// Signs every job written and accepts only signed ones (`jobSigningKey`).
    pub job_signer: Option<Arc<JobSigner>>,
    /// Where the transport's rebalances, lag, transactions and dead letters are counted.
    pub metrics: Arc<Metrics>,
}

impl Default for KafkaTransportOptions {
    fn default() -> Self {
        Self {
            topic: "flowcraft-jobs".into(),
            group_id: "flowcraft-workers".into(),
            batch_max_n: 10,
            batch_max_ms: 0,
            error_topic: "flowcraft-errors".into(),
            partitions: 8,
            max_message_bytes: 1024 * 1024,
            transactional_id: None,
            delivery: DeliveryMode::AtLeastOnce,
            commit_interval_ms: 100,
            max_buffered: 256,
            close_grace: Duration::from_secs(10),
            revoke_grace: Duration::from_secs(5),
            job_signer: None,
            metrics: Arc::default(),
        }
    }
}

impl KafkaTransportOptions {
    pub fn validate(&self) -> Result<(), KafkaError> {
        let bad = |reason: String| Err(KafkaError::Config { reason });
        for (name, value) in [
            ("topic", &self.topic),
            ("groupId", &self.group_id),
            ("errorTopic", &self.error_topic),
        ] {
            check_kafka_name(name, value)?;
        }
        if self.topic == self.error_topic {
            return bad("errorTopic must differ from topic".into());
        }
        if self.batch_max_n == 0 {
            return bad("batchMaxN must be at least 1".into());
        }
        if self.partitions < 1 {
            return bad(format!("partitions = {} must be at least 1", self.partitions));
        }
        if self.max_message_bytes == 0 {
            return bad("maxMessageBytes must be at least 1".into());
        }
        if self.transactional_id.as_deref() == Some("") {
            return bad("transactionalId is empty".into());
        }
        Ok(())
    }

    /// The worker's `transactional.id`: the configured one, else a unique one.
    pub fn resolved_transactional_id(&self, client_id: &str) -> String {
        self.transactional_id.clone().unwrap_or_else(|| {
            format!(
                "{}-{}-{}",
                self.group_id,
                client_id,
                uuid::Uuid::new_v4().simple()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_names_are_checked() {
        assert!(KafkaTransportOptions::default().validate().is_ok());
        let bad = KafkaTransportOptions {
            topic: "a b".into(),
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("topic = 'a b'"));
        let same = KafkaTransportOptions {
            error_topic: "flowcraft-jobs".into(),
            ..Default::default()
        };
        assert!(same.validate().is_err());
    }

    #[test]
    fn transactional_id_is_configured_or_unique() {
        let options = KafkaTransportOptions::default();
        assert_ne!(
            options.resolved_transactional_id("w"),
            options.resolved_transactional_id("w")
        );
        let fixed = KafkaTransportOptions {
            transactional_id: Some("w-3".into()),
            ..Default::default()
        };
        assert_eq!(fixed.resolved_transactional_id("w"), "w-3");
    }
}
