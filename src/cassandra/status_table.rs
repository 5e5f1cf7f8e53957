//! The status row of a run and its statements. No lightweight transactions: a final
//! result (`completed`, `failed`) is written with a cell timestamp above any clock's
//! and falling with time (`final_timestamp`), so once a row is final no later write
//! changes it and, of two finals, the earlier one stands on every replica. Which final
//! is *announced* is decided before the write (`CoordinationStore::claim_final`).
//! Non-final transitions (`running`, `awaiting`) are plain writes at the writer's clock.
//! Writes happen when a run starts, resumes or publishes, never per job. The one
//! lightweight transaction creates the row of a run started under a caller's run id, so
//! a second start under that id is refused (`create_running`).

use std::sync::Arc;

use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlTimestamp, CqlValue, Row};

use super::statements::{execution_error, prepare, query_error};
use super::status_data::{decode, encode, encode_entry, parse_status};
use super::CassandraError;
use crate::engine::run::{PublishedResult, RunRecord};

/// Cell timestamps (µs) of final writes count down from here: far above any real clock
/// (year 2096 is 4e15 µs) and far below i64::MAX.
const FINAL_TIMESTAMP_BASE: i64 = 4_000_000_000_000_000_000;

/// The cell timestamp of a final result published at `now_ms`: earlier finals win.
pub fn final_timestamp(now_ms: u64) -> i64 {
    FINAL_TIMESTAMP_BASE - micros(now_ms)
}

fn micros(ms: u64) -> i64 {
    i64::try_from(ms.saturating_mul(1000)).unwrap_or(i64::MAX / 4)
}

/// A completed result carries its final context in the status row up to this size (JSON
/// bytes); above it the row holds the result without it, read from the context table.
pub const MAX_STATUS_DATA_BYTES: usize = 4 * 1024 * 1024;

pub struct StatusTable {
    session: Arc<Session>,
    table: String,
    select: PreparedStatement,
    select_published: PreparedStatement,
    set_running: PreparedStatement,
    insert_running: PreparedStatement,
    set_published: PreparedStatement,
}

impl StatusTable {
    pub(crate) async fn prepare(session: Arc<Session>, table: String) -> Result<Self, CassandraError> {
        let s = &session;
        let t = &table;
        Ok(StatusTable {
            select: prepare(
                s,
                t,
                format!("SELECT status, status_data, updated_at FROM {t} WHERE run_id = ?"),
                true,
            )
            .await?,
            select_published: prepare(
                s,
                t,
                format!("SELECT status, status_data, published FROM {t} WHERE run_id = ?"),
                true,
            )
            .await?,
            set_running: prepare(
                s,
                t,
                format!(
                    "UPDATE {t} USING TIMESTAMP ? SET status = 'running', updated_at = ? WHERE run_id = ?"
                ),
                true,
            )
            .await?,
            // Not idempotent: a retry of a transaction that was applied answers "exists".
            insert_running: prepare(
                s,
                t,
                format!(
                    "INSERT INTO {t} (run_id, status, updated_at) VALUES (?, 'running', ?) IF NOT EXISTS"
                ),
                false,
            )
            .await?,
            // Not idempotent: a retry writes the same cells (the caller fixed the timestamp)
            // but appends a non-final result's list entry again.
            set_published: prepare(
                s,
                t,
                format!(
                    "UPDATE {t} USING TIMESTAMP ? SET status = ?, status_data = ?, updated_at = ?, \
                     published = published + ? WHERE run_id = ?"
                ),
                false,
            )
            .await?,
            session,
            table,
        })
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Sets `running` (creating the row when absent); a final row keeps its result.
    pub async fn mark_running(&self, run_id: &str, now_ms: u64) -> Result<(), CassandraError> {
        let values = (micros(now_ms), CqlTimestamp(now_ms as i64), run_id);
        self.session
            .execute_unpaged(&self.set_running, values)
            .await
            .map_err(|e| execution_error("UPDATE", &self.table, run_id, e))?;
        Ok(())
    }

    /// Creates the row, `running`, unless the run has one: whether it did.
    pub async fn create_running(&self, run_id: &str, now_ms: u64) -> Result<bool, CassandraError> {
        let failed = |e: String| self.run_error("INSERT IF NOT EXISTS", run_id, e);
        let rows = self
            .session
            .execute_unpaged(&self.insert_running, (run_id, CqlTimestamp(now_ms as i64)))
            .await
            .map_err(|e| failed(e.to_string()))?
            .into_rows_result()
            .map_err(|e| failed(e.to_string()))?;
        // The first column is `[applied]`; when false, the existing row's columns follow.
        let row = rows.maybe_first_row::<Row>().map_err(|e| failed(e.to_string()))?;
        match row.as_ref().and_then(|r| r.columns.first()) {
            Some(Some(CqlValue::Boolean(applied))) => Ok(*applied),
            other => Err(failed(format!("no [applied] column in the answer ({other:?})"))),
        }
    }

    /// Records `result`. A final one is written to win over every non-final write and
    /// over any later final; a non-final one never changes a final row. Final results
    /// are not appended to the `published` list: `published` takes them from the row.
    pub async fn publish(
        &self,
        run_id: &str,
        result: &PublishedResult,
        now_ms: u64,
    ) -> Result<(), CassandraError> {
        let status = result.status.as_str();
        let mut data = encode(result);
        if data.len() > MAX_STATUS_DATA_BYTES && result.context.is_some() {
            // Too large to carry: readers load the context from the context table.
            data = encode_entry(result);
        }
        let (timestamp, entry) = if result.status.is_final() {
            (final_timestamp(now_ms), Vec::new())
        } else {
            (micros(now_ms), vec![encode_entry(result)])
        };
        let values = (
            timestamp,
            status,
            data,
            CqlTimestamp(now_ms as i64),
            entry,
            run_id,
        );
        self.session
            .execute_unpaged(&self.set_published, values)
            .await
            .map_err(|e| execution_error("UPDATE", &self.table, run_id, e))?;
        Ok(())
    }

    pub async fn get(&self, run_id: &str) -> Result<Option<RunRecord>, CassandraError> {
        let failed = |e: String| self.run_error("SELECT", run_id, e);
        let rows = self
            .session
            .execute_unpaged(&self.select, (run_id,))
            .await
            .map_err(|e| failed(e.to_string()))?
            .into_rows_result()
            .map_err(|e| failed(e.to_string()))?;
        let Some((status, data, updated_at)) = rows
            .maybe_first_row::<(Option<String>, Option<String>, Option<CqlTimestamp>)>()
            .map_err(|e| failed(e.to_string()))?
        else {
            return Ok(None);
        };
        Ok(Some(RunRecord {
            run_id: run_id.to_string(),
            status: parse_status(status.as_deref()).map_err(failed)?,
            status_data: data
                .as_deref()
                .map(|d| self.decode(run_id, "status_data", d))
                .transpose()?,
            updated_at_ms: updated_at.map_or(0, |t| t.0.max(0) as u64),
        }))
    }

    /// Every published result, oldest first: the non-final ones from the list, then the
    /// final one from the row (a `completed` one with its context). Rows written by
    /// earlier versions also hold their final in the list: it is read from the row only.
    pub async fn published(&self, run_id: &str) -> Result<Vec<PublishedResult>, CassandraError> {
        let failed = |e: String| self.run_error("SELECT", run_id, e);
        let rows = self
            .session
            .execute_unpaged(&self.select_published, (run_id,))
            .await
            .map_err(|e| failed(e.to_string()))?
            .into_rows_result()
            .map_err(|e| failed(e.to_string()))?;
        let Some((status, data, entries)) = rows
            .maybe_first_row::<(Option<String>, Option<String>, Option<Vec<String>>)>()
            .map_err(|e| failed(e.to_string()))?
        else {
            return Ok(Vec::new());
        };
        let mut results = Vec::new();
        for entry in entries.unwrap_or_default() {
            let result = self.decode(run_id, "published", &entry)?;
            if !result.status.is_final() {
                results.push(result);
            }
        }
        let status = parse_status(status.as_deref()).map_err(failed)?;
        if status.is_final() {
            if let Some(data) = data {
                results.push(self.decode(run_id, "status_data", &data)?);
            }
        }
        Ok(results)
    }

    fn decode(&self, run_id: &str, column: &str, text: &str) -> Result<PublishedResult, CassandraError> {
        decode(text).map_err(|cause| CassandraError::Decode {
            table: self.table.clone(),
            run_id: run_id.to_string(),
            key: column.to_string(),
            cause,
        })
    }

    fn run_error(
        &self,
        operation: &'static str,
        run_id: &str,
        cause: impl std::fmt::Display,
    ) -> CassandraError {
        query_error(operation, &self.table, format!("run '{run_id}': {cause}"))
    }
}
