//! Preparing statements, with errors that name the table.

use scylla::client::session::Session;
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
