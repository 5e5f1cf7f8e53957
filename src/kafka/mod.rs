//! Kafka backend (rdkafka): connection settings, reachability and round-trip checks,
//! and the job transport (consume in batches, transactional commits, dead letters).

pub mod error;
pub mod job_headers;
mod ledger;
pub mod options;
pub mod probe;
mod reporting_context;
pub mod results;
pub mod scheduler;
pub mod signing;
pub mod timer;
pub mod topics;
mod transaction;
pub mod transport;
pub mod transport_options;
pub mod wire;
mod worker;

// Need the local stack: built with `--features stack-tests` (see `npm test`).
#[cfg(all(test, feature = "stack-tests"))]
mod transport_tests;

pub use error::KafkaError;
pub use options::KafkaOptions;
pub use reporting_context::ReportingContext;
pub use results::{ResultsFeed, DEFAULT_RESULTS_TOPIC};
pub use scheduler::{SchedulerOptions, SchedulerService, SchedulerSnapshot};
pub use timer::KafkaTimer;
pub use transport::KafkaJobTransport;
pub use transport_options::KafkaTransportOptions;
