//! Creating the topics we use when they are missing.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;

use super::{KafkaError, KafkaOptions, ReportingContext};

#[derive(Debug, Clone)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    /// Compacted topics keep the last message per key (schedules).
    pub compacted: bool,
}

/// Checks a topic or group name as Kafka does: 1 to 249 of `[a-zA-Z0-9._-]`. `option`
/// names the setting in the error.
pub fn check_kafka_name(option: &str, value: &str) -> Result<(), KafkaError> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if value.is_empty() || value.len() > 249 || !value.chars().all(valid_char) {
        return Err(KafkaError::Config {
            reason: format!("{option} = '{value}' is not a valid Kafka name (1-249 of [a-zA-Z0-9._-])"),
        });
    }
    Ok(())
}

/// Creates every topic in `specs` that does not exist yet; existing ones are left as they are.
pub async fn ensure_topics(options: &KafkaOptions, specs: &[TopicSpec]) -> Result<(), KafkaError> {
    let admin: AdminClient<ReportingContext> = options
        .client_config()
        .create_with_context(ReportingContext::default())
        .map_err(KafkaError::client_creation)?;
    let new_topics: Vec<NewTopic> = specs
        .iter()
        .map(|spec| {
            let topic = NewTopic::new(&spec.name, spec.partitions, TopicReplication::Fixed(-1));
            if spec.compacted {
                topic.set("cleanup.policy", "compact")
            } else {
                topic
            }
        })
        .collect();
    let admin_options = AdminOptions::new().operation_timeout(Some(options.connect_timeout));
    let results = admin
        .create_topics(new_topics.iter(), &admin_options)
        .await
        .map_err(|e| KafkaError::CreateTopic {
            topic: specs
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
            cause: admin
                .inner()
                .context()
                .last_error()
                .unwrap_or_else(|| e.to_string()),
        })?;
    for result in results {
        match result {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::CreateTopic {
                    topic,
                    cause: code.to_string(),
                })
            }
        }
    }
    Ok(())
}
