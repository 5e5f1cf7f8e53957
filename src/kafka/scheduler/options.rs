//! Settings of the timer service.

use std::time::Duration;

use crate::kafka::topics::check_kafka_name;
use crate::kafka::KafkaError;

#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The compacted topic schedules live on (default `flowcraft-schedules`).
    pub topic: String,
    /// Where a copy of every fired schedule goes (default `flowcraft-schedules-history`).
    pub history_topic: String,
    /// Consumer group of the timer services. Every service reading `topic` must be in
    /// the same group (whatever jobs group its worker is in), or two would fire the same
    /// schedule: so it is derived from the topic, `<topic>-timers`.
    pub group_id: String,
    /// Partition count when this service creates the topics.
    pub partitions: i32,
    /// A schedule fired more than this after its due time is flagged late.
    pub grace: Duration,
    /// `transactional.id` of the firing producer; `None`: unique per process. A stable
    /// id lets a restarted worker abort its predecessor's open fire at once.
    pub transactional_id: Option<String>,
    /// Most schedules fired in one transaction.
    pub max_batch: usize,
}

impl SchedulerOptions {
    pub const DEFAULT_TOPIC: &'static str = "flowcraft-schedules";
    pub const DEFAULT_HISTORY_TOPIC: &'static str = "flowcraft-schedules-history";

    /// The service for schedules on `topic`, with the other settings at their defaults.
    pub fn for_topic(topic: &str) -> Self {
        SchedulerOptions {
            topic: topic.into(),
            history_topic: Self::DEFAULT_HISTORY_TOPIC.into(),
            group_id: format!("{topic}-timers"),
            partitions: 8,
            grace: Duration::from_secs(10),
            transactional_id: None,
            max_batch: 500,
        }
    }

    pub fn validate(&self) -> Result<(), KafkaError> {
        for (name, value) in [
            ("schedulesTopic", &self.topic),
            ("schedulesHistoryTopic", &self.history_topic),
        ] {
            check_kafka_name(name, value)?;
        }
        if self.topic == self.history_topic {
            return Err(KafkaError::Config {
                reason: "schedulesHistoryTopic must differ from schedulesTopic".into(),
            });
        }
        if self.max_batch == 0 || self.partitions < 1 {
            return Err(KafkaError::Config {
                reason: "timer batch size and partitions must be at least 1".into(),
            });
        }
        Ok(())
    }

    pub fn resolved_transactional_id(&self, client_id: &str) -> String {
        self.transactional_id
            .clone()
            .unwrap_or_else(|| format!("{}-{client_id}-{}", self.group_id, uuid::Uuid::new_v4().simple()))
    }
}
