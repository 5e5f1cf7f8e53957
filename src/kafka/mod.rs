//! Kafka backend (rdkafka): connection settings, reachability and round-trip checks.

pub mod error;
pub mod options;
pub mod probe;
mod reporting_context;
pub mod topics;

pub use error::KafkaError;
pub use options::KafkaOptions;
pub use reporting_context::ReportingContext;
