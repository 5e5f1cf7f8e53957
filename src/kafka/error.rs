//! Errors of the Kafka backend, one variant per failing operation.

use crate::errors::CodedError;

#[derive(Debug)]
pub enum KafkaError {
    /// Bad client settings: rejected by us or by librdkafka before any connection.
    Config { reason: String },
    /// No broker answered a metadata request in time.
    Unreachable {
        brokers: String,
        timeout_ms: u64,
        cause: String,
    },
    /// Creating a topic failed for a reason other than "already exists".
    CreateTopic { topic: String, cause: String },
    /// The broker did not acknowledge a produced message.
    Produce { topic: String, cause: String },
    /// Reading back from a topic failed or timed out.
    Consume { topic: String, cause: String },
    /// A transaction step (init, send offsets, commit, abort) failed.
    Transaction { operation: &'static str, cause: String },
    /// The transport was used after `close()`, or a fatal error stopped it.
    Closed { reason: String },
}

impl KafkaError {
    /// librdkafka refusing a client's settings. Its own message quotes the refused value,
    /// which for a mistyped key (`sasl.pasword`) is a secret: the value is left out.
    pub fn client_creation(error: rdkafka::error::KafkaError) -> KafkaError {
        let reason = match error {
            rdkafka::error::KafkaError::ClientConfig(_, description, key, _value) => {
                format!("librdkafka refused '{key}': {description}")
            }
            other => other.to_string(),
        };
        KafkaError::Config { reason }
    }
}

impl std::fmt::Display for KafkaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KafkaError::Config { reason } => write!(f, "invalid Kafka settings: {reason}"),
            KafkaError::Unreachable {
                brokers,
                timeout_ms,
                cause,
            } => write!(
                f,
                "Kafka unreachable at {brokers}: no broker answered within {timeout_ms} ms ({cause})"
            ),
            KafkaError::CreateTopic { topic, cause } => {
                write!(f, "could not create Kafka topic '{topic}': {cause}")
            }
            KafkaError::Produce { topic, cause } => {
                write!(f, "could not produce to Kafka topic '{topic}': {cause}")
            }
            KafkaError::Consume { topic, cause } => {
                write!(f, "could not consume from Kafka topic '{topic}': {cause}")
            }
            KafkaError::Transaction { operation, cause } => {
                write!(f, "Kafka transaction step '{operation}' failed: {cause}")
            }
            KafkaError::Closed { reason } => write!(f, "Kafka job transport is closed: {reason}"),
        }
    }
}

impl std::error::Error for KafkaError {}

impl CodedError for KafkaError {
    fn code(&self) -> &'static str {
        match self {
            KafkaError::Config { .. } => "ERR_KAFKA_CONFIG",
            KafkaError::Unreachable { .. } => "ERR_KAFKA_UNREACHABLE",
            KafkaError::CreateTopic { .. } => "ERR_KAFKA_CREATE_TOPIC",
            KafkaError::Produce { .. } => "ERR_KAFKA_PRODUCE",
            KafkaError::Consume { .. } => "ERR_KAFKA_CONSUME",
            KafkaError::Transaction { .. } => "ERR_KAFKA_TRANSACTION",
            KafkaError::Closed { .. } => "ERR_KAFKA_CLOSED",
        }
    }
}
