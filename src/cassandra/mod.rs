//! Cassandra backend (scylla driver): sessions, identifiers, and the engine's
//! context and status stores (per-key context rows, a status row per run, the
//! active-runs index).

pub mod active_runs;
pub mod context_store;
pub mod context_table;
pub mod error;
pub mod identifiers;
pub mod options;
pub mod schema;
pub mod session;
pub mod statements;
pub mod status_data;
pub mod status_store;
pub mod status_table;
pub mod stores;
pub mod write_chunks;

// Need the local stack: built with `--features stack-tests` (see `npm test`).
#[cfg(all(test, feature = "stack-tests"))]
mod tests;

pub use active_runs::ActiveRun;
pub use context_table::ContextTable;
pub use error::CassandraError;
pub use options::CassandraOptions;
pub use schema::TableNames;
pub use status_store::{CassandraStatusStore, ResultPolling};
pub use stores::CassandraStores;
