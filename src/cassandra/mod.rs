//! Cassandra backend (scylla driver): sessions, identifiers, the per-key context table.

pub mod context_table;
pub mod error;
pub mod identifiers;
pub mod options;
pub mod session;

pub use error::CassandraError;
pub use options::CassandraOptions;
