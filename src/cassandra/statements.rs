//! Preparing statements and reading lightweight-transaction replies, with
//! errors that name the table.

use scylla::client::session::Session;
use scylla::response::query_result::QueryResult;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency};
use scylla::value::{CqlValue, Row};

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

/// Prepares `cql` at LOCAL_QUORUM (LOCAL_SERIAL for the Paxos phase of LWTs).
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

/// The reply of a conditional statement: whether it applied and, when it did
/// not, the current value of the first condition column (`None` when the row
/// does not exist or the column is null).
#[derive(Debug, Clone, PartialEq)]
pub struct LwtOutcome {
    pub applied: bool,
    pub current: Option<String>,
}

pub fn lwt_outcome(
    result: QueryResult,
    operation: &'static str,
    table: &str,
) -> Result<LwtOutcome, CassandraError> {
    let rows = result
        .into_rows_result()
        .map_err(|e| query_error(operation, table, e))?;
    let row = rows
        .first_row::<Row>()
        .map_err(|e| query_error(operation, table, e))?;
    let mut columns = row.columns.into_iter();
    let applied = match columns.next().flatten() {
        Some(CqlValue::Boolean(applied)) => applied,
        other => {
            return Err(query_error(
                operation,
                table,
                format!("expected an [applied] boolean, got {other:?}"),
            ))
        }
    };
    let current = columns.next().flatten().and_then(|value| match value {
        CqlValue::Text(text) | CqlValue::Ascii(text) => Some(text),
        _ => None,
    });
    Ok(LwtOutcome { applied, current })
}
