//! The status row of a run and its statements. Every write to this table is a
//! lightweight transaction conditioned on the row not being final, so final
//! results are monotonic across processes and LWT and plain writes are never
//! mixed on the same cells (the reference mixes them, K3). Writes happen when
//! a run starts, resumes or publishes, never per job.

use std::sync::Arc;

use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

use super::statements::{lwt_outcome, prepare, query_error, LwtOutcome};
use super::status_data::{decode, encode, encode_entry, parse_status, publish_id_of};
use super::CassandraError;
use crate::engine::run::{PublishedResult, RunRecord, RunStatus};

/// Rounds of "update if not final, else create if absent" before giving up:
/// only a concurrent creation of the row can make a round fail.
const MAX_TRANSITION_ROUNDS: usize = 4;

pub struct StatusTable {
    session: Arc<Session>,
    table: String,
    select: PreparedStatement,
    select_published: PreparedStatement,
    create_running: PreparedStatement,
    set_running: PreparedStatement,
    create_published: PreparedStatement,
    set_published: PreparedStatement,
}

/// What a conditional transition found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Applied,
    /// The run already has this final status.
    AlreadyFinal(RunStatus),
}

impl StatusTable {
    pub(crate) async fn prepare(session: Arc<Session>, table: String) -> Result<Self, CassandraError> {
        let s = &session;
        let t = &table;
        let not_final = "IF status IN ('running', 'awaiting')";
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
                format!("SELECT status_data, published FROM {t} WHERE run_id = ?"),
                true,
            )
            .await?,
            create_running: prepare(
                s,
                t,
                format!(
                    "INSERT INTO {t} (run_id, status, updated_at) VALUES (?, 'running', ?) IF NOT EXISTS"
                ),
                false,
            )
            .await?,
            set_running: prepare(
                s,
                t,
                format!("UPDATE {t} SET status = 'running', updated_at = ? WHERE run_id = ? {not_final}"),
                false,
            )
            .await?,
            create_published: prepare(
                s,
                t,
                format!(
                    "INSERT INTO {t} (run_id, status, status_data, updated_at, published) \
                     VALUES (?, ?, ?, ?, ?) IF NOT EXISTS"
                ),
                false,
            )
            .await?,
            set_published: prepare(
                s,
                t,
                format!(
                    "UPDATE {t} SET status = ?, status_data = ?, updated_at = ?, published = published + ? \
                     WHERE run_id = ? {not_final}"
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

    /// Sets `running` unless the run is final; creates the row when absent.
    pub async fn mark_running(&self, run_id: &str, now_ms: u64) -> Result<Transition, CassandraError> {
        let now = CqlTimestamp(now_ms as i64);
        for _ in 0..MAX_TRANSITION_ROUNDS {
            // A new run is the common case: try creating first.
            let created = self
                .conditional(
                    "INSERT IF NOT EXISTS",
                    &self.create_running,
                    run_id,
                    (run_id, now),
                )
                .await?;
            if created.applied {
                return Ok(Transition::Applied);
            }
            let updated = self
                .conditional("UPDATE IF NOT FINAL", &self.set_running, run_id, (now, run_id))
                .await?;
            if let Some(outcome) = self.settled(run_id, &updated)? {
                return Ok(outcome);
            }
        }
        Err(self.contended(run_id))
    }

    /// Records `result` unless the run is final (the first final wins).
    pub async fn publish(
        &self,
        run_id: &str,
        result: &PublishedResult,
        now_ms: u64,
    ) -> Result<Transition, CassandraError> {
        let now = CqlTimestamp(now_ms as i64);
        let status = result.status.as_str();
        // Tells, after an ambiguous failure (a CAS write timeout may still
        // have applied), whether the final status found is this call's own.
        let publish_id = uuid::Uuid::new_v4().simple().to_string();
        let data = encode(result, Some(&publish_id));
        let entry = vec![encode_entry(result)];
        let mut last_error = None;
        for _ in 0..MAX_TRANSITION_ROUNDS {
            match self.publish_round(run_id, status, &data, now, &entry).await {
                Ok(Some(Transition::AlreadyFinal(found))) => {
                    if last_error.is_some() && self.carries_publish_id(run_id, &publish_id).await? {
                        return Ok(Transition::Applied);
                    }
                    return Ok(Transition::AlreadyFinal(found));
                }
                Ok(Some(Transition::Applied)) => return Ok(Transition::Applied),
                Ok(None) => {}
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| self.contended(run_id)))
    }

    /// One "update if not final, else create if absent"; `None` when the row
    /// was created by someone else in between.
    async fn publish_round(
        &self,
        run_id: &str,
        status: &str,
        data: &str,
        now: CqlTimestamp,
        entry: &Vec<String>,
    ) -> Result<Option<Transition>, CassandraError> {
        // A published run usually exists (marked running at start): update first.
        let values = (status, data, now, entry, run_id);
        let updated = self
            .conditional("UPDATE IF NOT FINAL", &self.set_published, run_id, values)
            .await?;
        if let Some(outcome) = self.settled(run_id, &updated)? {
            return Ok(Some(outcome));
        }
        let values = (run_id, status, data, now, entry);
        let created = self
            .conditional("INSERT IF NOT EXISTS", &self.create_published, run_id, values)
            .await?;
        Ok(created.applied.then_some(Transition::Applied))
    }

    pub(crate) async fn carries_publish_id(
        &self,
        run_id: &str,
        publish_id: &str,
    ) -> Result<bool, CassandraError> {
        let failed = |e: String| self.run_error("SELECT", run_id, e);
        let rows = self
            .session
            .execute_unpaged(&self.select, (run_id,))
            .await
            .map_err(|e| failed(e.to_string()))?
            .into_rows_result()
            .map_err(|e| failed(e.to_string()))?;
        let data = rows
            .maybe_first_row::<(Option<String>, Option<String>, Option<CqlTimestamp>)>()
            .map_err(|e| failed(e.to_string()))?
            .and_then(|(_, data, _)| data);
        Ok(data.is_some_and(|d| publish_id_of(&d).as_deref() == Some(publish_id)))
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

    /// Every published result, oldest first; the `completed` one gets its
    /// context back from `status_data`.
    pub async fn published(&self, run_id: &str) -> Result<Vec<PublishedResult>, CassandraError> {
        let failed = |e: String| self.run_error("SELECT", run_id, e);
        let rows = self
            .session
            .execute_unpaged(&self.select_published, (run_id,))
            .await
            .map_err(|e| failed(e.to_string()))?
            .into_rows_result()
            .map_err(|e| failed(e.to_string()))?;
        let Some((data, entries)) = rows
            .maybe_first_row::<(Option<String>, Option<Vec<String>>)>()
            .map_err(|e| failed(e.to_string()))?
        else {
            return Ok(Vec::new());
        };
        let latest = data
            .as_deref()
            .map(|d| self.decode(run_id, "status_data", d))
            .transpose()?;
        let mut results = Vec::new();
        for entry in entries.unwrap_or_default() {
            let mut result = self.decode(run_id, "published", &entry)?;
            if result.status == RunStatus::Completed {
                result.context = latest.as_ref().and_then(|l| l.context.clone());
            }
            results.push(result);
        }
        Ok(results)
    }

    async fn conditional(
        &self,
        operation: &'static str,
        statement: &PreparedStatement,
        run_id: &str,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> Result<LwtOutcome, CassandraError> {
        let result = self
            .session
            .execute_unpaged(statement, values)
            .await
            .map_err(|e| self.run_error(operation, run_id, e))?;
        lwt_outcome(result, operation, &self.table)
    }

    /// Interprets a not-final-conditioned update: applied, lost to a final
    /// status, or `None` when the row does not exist yet.
    fn settled(&self, run_id: &str, outcome: &LwtOutcome) -> Result<Option<Transition>, CassandraError> {
        if outcome.applied {
            return Ok(Some(Transition::Applied));
        }
        match outcome.current.as_deref() {
            None => Ok(None),
            current => {
                let status =
                    parse_status(current).map_err(|e| self.run_error("UPDATE IF NOT FINAL", run_id, e))?;
                Ok(Some(Transition::AlreadyFinal(status)))
            }
        }
    }

    fn decode(&self, run_id: &str, column: &str, text: &str) -> Result<PublishedResult, CassandraError> {
        decode(text).map_err(|cause| CassandraError::Decode {
            table: self.table.clone(),
            run_id: run_id.to_string(),
            key: column.to_string(),
            cause,
        })
    }

    fn contended(&self, run_id: &str) -> CassandraError {
        self.run_error(
            "UPDATE IF NOT FINAL",
            run_id,
            format!("no transition applied in {MAX_TRANSITION_ROUNDS} rounds (status null?)"),
        )
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
