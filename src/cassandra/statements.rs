//! Preparing statements, with errors that name the table.

use scylla::client::session::Session;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency};

use super::CassandraError;

/// Reads and writes at LOCAL_QUORUM so a worker reads what another wrote
/// (the reference's LOCAL_ONE gives no read-your-writes above RF 1, K10).
pub const CONSISTENCY: Consistency = Consistency::LocalQuorum;

pub fn query_error(operation: &'static str, table: &str, cause: impl std::fmt::Display) -> CassandraError {
    CassandraError::Query {
        operation,
        table: table.to_string(),
        cause: cause.to_string(),
        refused: false,
    }
}

/// Whether Cassandra's message says the keyspace or table is gone: an operator can bring
/// it back, so the request is worth retrying (and saying so), not a refusal of this write.
fn schema_missing(message: &str) -> bool {
    message.contains("does not exist") || message.contains("unconfigured table")
}

/// A statement of `run_id` that failed. Refusals (an invalid request such as an oversized
/// mutation, values the driver cannot serialise, a malformed query) are marked: sending
/// them again cannot succeed. Timeouts, unavailable replicas, broken connections may pass.
pub fn execution_error(
    operation: &'static str,
    table: &str,
    run_id: &str,
    error: ExecutionError,
) -> CassandraError {
    let refused = match &error {
        ExecutionError::BadQuery(_) => true,
        ExecutionError::LastAttemptError(attempt) => match attempt {
            RequestAttemptError::DbError(db_error, message) => {
                matches!(db_error, DbError::Invalid | DbError::SyntaxError) && !schema_missing(message)
            }
            RequestAttemptError::SerializationError(_) | RequestAttemptError::CqlRequestSerialization(_) => {
                true
            }
            _ => false,
        },
        _ => false,
    };
    CassandraError::Query {
        operation,
        table: table.to_string(),
        cause: format!("run '{run_id}': {error}"),
        refused,
    }
}

/// Prepares `cql` at LOCAL_QUORUM (LOCAL_SERIAL for the conditional one, `create_running`).
pub async fn prepare(
    session: &Session,
    table: &str,
    cql: String,
    idempotent: bool,
) -> Result<PreparedStatement, CassandraError> {
    let mut statement = session
        .prepare(cql)
        .await
        .map_err(|e| query_error("PREPARE", table, e))?;
    statement.set_consistency(CONSISTENCY);
    statement.set_serial_consistency(Some(SerialConsistency::LocalSerial));
    statement.set_is_idempotent(idempotent);
    Ok(statement)
}
