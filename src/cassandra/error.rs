//! Errors of the Cassandra backend, one variant per failing operation.

use crate::engine::BackendError;
use crate::errors::{CodedError, ErrorCause, ErrorDetails};

#[derive(Debug)]
pub enum CassandraError {
    /// Bad settings, found before any connection (empty contact points, bad identifier).
    Config { reason: String },
    /// No contact point completed the CQL handshake in time.
    Unreachable {
        contact_points: String,
        timeout_ms: u64,
        cause: String,
    },
    /// A table we need is missing and we were not asked to create it.
    MissingTable { table: String },
    /// Creating the keyspace or a table failed.
    Schema { table: String, cause: String },
    /// A statement failed: which one, on which table. `refused`: Cassandra (or the
    /// driver) refused the request itself, so sending it again cannot succeed.
    Query {
        operation: &'static str,
        table: String,
        cause: String,
        refused: bool,
    },
    /// A value or a write too large to send (checked before it is sent).
    TooLarge {
        table: String,
        run_id: String,
        what: String,
        bytes: usize,
        limit: usize,
    },
    /// A stored value is not the JSON we wrote.
    Decode {
        table: String,
        run_id: String,
        key: String,
        cause: String,
    },
}

impl std::fmt::Display for CassandraError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CassandraError::Config { reason } => write!(f, "invalid Cassandra settings: {reason}"),
            CassandraError::Unreachable {
                contact_points,
                timeout_ms,
                cause,
            } => write!(
                f,
                "Cassandra unreachable at {contact_points}: no CQL handshake within {timeout_ms} ms ({cause})"
            ),
            CassandraError::MissingTable { table } => write!(
                f,
                "Cassandra table {table} does not exist: create it or pass ensureSchema: true"
            ),
            CassandraError::Schema { table, cause } => {
                write!(f, "could not create Cassandra schema for {table}: {cause}")
            }
            CassandraError::Query {
                operation,
                table,
                cause,
                ..
            } => write!(f, "Cassandra {operation} on {table} failed: {cause}"),
            CassandraError::TooLarge {
                table,
                run_id,
                what,
                bytes,
                limit,
            } => write!(
                f,
                "{what} of run '{run_id}' is {bytes} bytes of JSON, over the {limit}-byte limit for one write to {table}"
            ),
            CassandraError::Decode {
                table,
                run_id,
                key,
                cause,
            } => write!(
                f,
                "value of key '{key}' of run '{run_id}' in {table} is not valid JSON: {cause}"
            ),
        }
    }
}

impl std::error::Error for CassandraError {}

impl CassandraError {
    /// The engine's view of this error: the operation that failed, and a message
    /// carrying the code, the table and the run (the engine retries or fails the job).
    pub fn into_backend(self, operation: &'static str) -> BackendError {
        let message = self.to_string();
        let error = if self.is_permanent() {
            BackendError::permanent(operation, message)
        } else {
            BackendError::new(operation, message)
        };
        error.caused_by(self.as_cause())
    }

    /// Whether the same request can never succeed, so retrying it only blocks its run.
    pub fn is_permanent(&self) -> bool {
        match self {
            CassandraError::Query { refused, .. } => *refused,
            CassandraError::TooLarge { .. } | CassandraError::Decode { .. } => true,
            _ => false,
        }
    }
}

impl CodedError for CassandraError {
    fn code(&self) -> &'static str {
        match self {
            CassandraError::Config { .. } => "ERR_CASSANDRA_CONFIG",
            CassandraError::Unreachable { .. } => "ERR_CASSANDRA_UNREACHABLE",
            CassandraError::MissingTable { .. } => "ERR_CASSANDRA_MISSING_TABLE",
            CassandraError::Schema { .. } => "ERR_CASSANDRA_SCHEMA",
            CassandraError::Query { .. } => "ERR_CASSANDRA_QUERY",
            CassandraError::TooLarge { .. } => "ERR_CASSANDRA_TOO_LARGE",
            CassandraError::Decode { .. } => "ERR_CASSANDRA_DECODE",
        }
    }

    fn details(&self) -> ErrorDetails {
        let (table, run_id, cause) = match self {
            CassandraError::Config { .. } => (None, None, None),
            CassandraError::Unreachable { cause, .. } => (None, None, Some(cause)),
            CassandraError::MissingTable { table } => (Some(table), None, None),
            CassandraError::Schema { table, cause } | CassandraError::Query { table, cause, .. } => {
                (Some(table), None, Some(cause))
            }
            CassandraError::TooLarge { table, run_id, .. } => (Some(table), Some(run_id), None),
            CassandraError::Decode {
                table, run_id, cause, ..
            } => (Some(table), Some(run_id), Some(cause)),
        };
        ErrorDetails {
            table: table.cloned(),
            run_id: run_id.cloned(),
            // The driver's errors have no code of their own; the message says what Cassandra said.
            cause: cause.map(|cause| ErrorCause::client(None, cause.clone())),
            ..ErrorDetails::default()
        }
    }
}
