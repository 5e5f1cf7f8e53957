//! Errors of the Kafka backend, one variant per failing operation.

use crate::errors::{CodedError, ErrorCause, ErrorDetails};

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

    fn details(&self) -> ErrorDetails {
        let (topic, cause) = match self {
            KafkaError::Config { .. } | KafkaError::Closed { .. } => (None, None),
            KafkaError::Unreachable { cause, .. } | KafkaError::Transaction { cause, .. } => {
                (None, Some(cause))
            }
            KafkaError::CreateTopic { topic, cause }
            | KafkaError::Produce { topic, cause }
            | KafkaError::Consume { topic, cause } => (Some(topic.clone()), Some(cause)),
        };
        ErrorDetails {
            topic,
            cause: cause.map(|cause| ErrorCause::client(librdkafka_code(cause), cause.clone())),
            ..ErrorDetails::default()
        }
    }
}

/// librdkafka's own name for the error a message quotes: rdkafka writes an error code as
/// `MsgSizeTooLarge (Broker: Message size too large)`, a CamelCase name before `" ("`.
fn librdkafka_code(message: &str) -> Option<String> {
    message.match_indices(" (").find_map(|(at, _)| {
        let word = message[..at]
            .rsplit(|c: char| !c.is_ascii_alphanumeric())
            .next()?;
        let camel_case = word.starts_with(|c: char| c.is_ascii_uppercase())
            && word.chars().any(|c| c.is_ascii_lowercase());
        camel_case.then(|| word.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn librdkafka_codes_are_read_from_rdkafka_messages() {
        let produce = "Message production error: MsgSizeTooLarge (Broker: Message size too large)";
        assert_eq!(librdkafka_code(produce).as_deref(), Some("MsgSizeTooLarge"));
        let nested =
            "job 'j' of run 'r': Message production error: MessageTimedOut (Local: Message timed out)";
        assert_eq!(librdkafka_code(nested).as_deref(), Some("MessageTimedOut"));
        assert_eq!(librdkafka_code("no broker answered (after 3 tries)"), None);
        assert_eq!(librdkafka_code("the transaction is not open"), None);
    }

    #[test]
    fn details_name_the_topic_and_the_client_error() {
        let error = KafkaError::Produce {
            topic: "jobs".into(),
            cause: "Message production error: MsgSizeTooLarge (Broker: Message size too large)".into(),
        };
        let details = error.details();
        assert_eq!(details.topic.as_deref(), Some("jobs"));
        let cause = details.cause.expect("a cause");
        assert_eq!(cause.code.as_deref(), Some("MsgSizeTooLarge"));
        assert!(cause.message.contains("Message size too large"));
    }
}
