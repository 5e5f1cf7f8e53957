//! The durable timer service: delayed work (sleep nodes, retry backoff, scheduled
//! runs) as schedule messages on a compacted Kafka topic, in the protocol of
//! etf1/kafka-message-scheduler. The topic is the whole state: every worker runs a
//! service that owns the topic's partitions the group gives it, rebuilds their pending
//! timers by reading them from the beginning, and fires each timer once.

mod fire;
pub mod headers;
pub mod metrics;
mod options;
mod pending;
pub mod protocol;
mod service;

pub use metrics::SchedulerSnapshot;
pub use options::SchedulerOptions;
pub use service::SchedulerService;
