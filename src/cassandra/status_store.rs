//! The engine's `StatusStore` on Cassandra: the status row (a final result is never
//! replaced, via `StatusTable`) kept in step with the active-runs index.
//!
//! The index row is written *before* a non-final transition and removed after a final
//! one. A run marked running after it was final (a start reusing a finished run's id)
//! or a crash between the two writes leaves a stale index row; the reconciler checks
//! the status row anyway and calls `forget_active` for those.

use std::time::Duration;

use super::active_runs::{ActiveRun, ActiveRunsIndex};
use super::status_table::StatusTable;
use super::CassandraError;
use crate::engine::run::{PublishedResult, RunRecord, RunStatus};
use crate::engine::traits::{BackendResult, BoxFuture, StatusStore};

/// How `wait_for_result` polls the status row. The `KafkaAdapter` waits through the
/// results topic instead (`adapter::announced_status`), which only re-reads the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultPolling {
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for ResultPolling {
    fn default() -> Self {
        ResultPolling {
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(250),
        }
    }
}

pub struct CassandraStatusStore {
    table: StatusTable,
    index: ActiveRunsIndex,
    polling: ResultPolling,
}

impl CassandraStatusStore {
    pub(crate) fn new(table: StatusTable, index: ActiveRunsIndex, polling: ResultPolling) -> Self {
        CassandraStatusStore {
            table,
            index,
            polling,
        }
    }

    /// Runs without a final result, oldest first; with `updated_before_ms`,
    /// only those not started, resumed or awaiting since then (engine clock,
    /// ms since epoch). Reads the index only: no ALLOW FILTERING, no scan.
    pub async fn active_runs(
        &self,
        updated_before_ms: Option<u64>,
    ) -> Result<Vec<ActiveRun>, CassandraError> {
        self.index.list(updated_before_ms).await
    }

    /// Drops a run from the active-runs index (the reconciler found it final).
    pub async fn forget_active(&self, run_id: &str) -> Result<(), CassandraError> {
        self.index.remove(run_id).await
    }

    pub fn status_table(&self) -> &StatusTable {
        &self.table
    }

    async fn mark_running_inner(&self, run_id: &str, now_ms: u64) -> Result<(), CassandraError> {
        self.index.upsert(run_id, RunStatus::Running, now_ms).await?;
        self.table.mark_running(run_id, now_ms).await
    }

    /// The index entry follows the row, so a refused start leaves no trace in the index.
    async fn create_run_inner(&self, run_id: &str, now_ms: u64) -> Result<bool, CassandraError> {
        let created = self.table.create_running(run_id, now_ms).await?;
        if created {
            self.index.upsert(run_id, RunStatus::Running, now_ms).await?;
        }
        Ok(created)
    }

    async fn publish_inner(
        &self,
        run_id: &str,
        result: &PublishedResult,
        now_ms: u64,
    ) -> Result<bool, CassandraError> {
        if !result.status.is_final() {
            self.index.upsert(run_id, result.status, now_ms).await?;
        }
        self.table.publish(run_id, result, now_ms).await?;
        if result.status.is_final() {
            self.index.remove(run_id).await?;
        }
        // Which final is announced was decided by the caller (`claim_final`); the row keeps
        // the earliest final whatever else is written.
        Ok(true)
    }

    async fn wait_inner(&self, run_id: &str) -> Result<RunRecord, CassandraError> {
        let mut delay = self.polling.first_delay;
        loop {
            if let Some(record) = self.table.get(run_id).await? {
                if record.status != RunStatus::Running {
                    return Ok(record);
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.polling.max_delay);
        }
    }
}

impl StatusStore for CassandraStatusStore {
    fn mark_running<'a>(&'a self, run_id: &'a str, now_ms: u64) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            self.mark_running_inner(run_id, now_ms)
                .await
                .map_err(|e| e.into_backend("mark running"))
        })
    }

    fn create_run<'a>(&'a self, run_id: &'a str, now_ms: u64) -> BoxFuture<'a, BackendResult<bool>> {
        Box::pin(async move {
            self.create_run_inner(run_id, now_ms)
                .await
                .map_err(|e| e.into_backend("create run"))
        })
    }

    fn publish<'a>(
        &'a self,
        run_id: &'a str,
        result: PublishedResult,
        now_ms: u64,
    ) -> BoxFuture<'a, BackendResult<bool>> {
        Box::pin(async move {
            self.publish_inner(run_id, &result, now_ms)
                .await
                .map_err(|e| e.into_backend("publish result"))
        })
    }

    fn get<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<Option<RunRecord>>> {
        Box::pin(async move {
            self.table
                .get(run_id)
                .await
                .map_err(|e| e.into_backend("get status"))
        })
    }

    fn wait_for_result<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<RunRecord>> {
        Box::pin(async move {
            self.wait_inner(run_id)
                .await
                .map_err(|e| e.into_backend("wait for result"))
        })
    }

    fn published<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<Vec<PublishedResult>>> {
        Box::pin(async move {
            self.table
                .published(run_id)
                .await
                .map_err(|e| e.into_backend("published results"))
        })
    }
}
