//! The active-runs index the reconciler reads instead of scanning the status
//! table with ALLOW FILTERING (K4): one row per run that is not final, in a
//! fixed number of partitions (buckets) chosen by a stable hash of the run id,
//! so listing is a bounded set of single-partition, paged queries.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

use super::statements::{prepare, query_error};
use super::status_data::parse_status;
use super::CassandraError;
use crate::engine::run::RunStatus;

/// Fixed forever for a table: changing it would strand rows in old buckets.
pub const ACTIVE_RUN_BUCKETS: i32 = 64;
/// Buckets listed at once.
const BUCKETS_IN_FLIGHT: usize = 16;
const LIST_PAGE_SIZE: i32 = 5000;

/// A run that has no final result yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveRun {
    pub run_id: String,
    /// `Running` or `Awaiting` (a HITL wait, not a stall).
    pub status: RunStatus,
    /// When the run last started, resumed or began awaiting (engine clock, ms).
    pub updated_at_ms: u64,
}

/// FNV-1a: stable across processes, platforms and Rust versions (std's hasher is not).
pub fn bucket_of(run_id: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in run_id.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    (hash % ACTIVE_RUN_BUCKETS as u32) as i32
}

pub struct ActiveRunsIndex {
    session: Arc<Session>,
    table: String,
    upsert: PreparedStatement,
    remove: PreparedStatement,
    select_bucket: PreparedStatement,
}

impl ActiveRunsIndex {
    /// Prepares the statements on a table known to exist (`keyspace.table`).
    pub(crate) async fn prepare(session: Arc<Session>, table: String) -> Result<Self, CassandraError> {
        let s = &session;
        let mut select_bucket = prepare(
            s,
            &table,
            format!("SELECT run_id, status, updated_at FROM {table} WHERE bucket = ?"),
            true,
        )
        .await?;
        select_bucket.set_page_size(LIST_PAGE_SIZE);
        Ok(ActiveRunsIndex {
            upsert: prepare(
                s,
                &table,
                format!("INSERT INTO {table} (bucket, run_id, status, updated_at) VALUES (?, ?, ?, ?)"),
                true,
            )
            .await?,
            remove: prepare(
                s,
                &table,
                format!("DELETE FROM {table} WHERE bucket = ? AND run_id = ?"),
                true,
            )
            .await?,
            select_bucket,
            session,
            table,
        })
    }

    pub async fn upsert(
        &self,
        run_id: &str,
        status: RunStatus,
        updated_at_ms: u64,
    ) -> Result<(), CassandraError> {
        let values = (
            bucket_of(run_id),
            run_id,
            status.as_str(),
            CqlTimestamp(updated_at_ms as i64),
        );
        self.session
            .execute_unpaged(&self.upsert, values)
            .await
            .map(|_| ())
            .map_err(|e| query_error("INSERT", &self.table, format!("run '{run_id}': {e}")))
    }

    pub async fn remove(&self, run_id: &str) -> Result<(), CassandraError> {
        self.session
            .execute_unpaged(&self.remove, (bucket_of(run_id), run_id))
            .await
            .map(|_| ())
            .map_err(|e| query_error("DELETE", &self.table, format!("run '{run_id}': {e}")))
    }

    /// Every indexed run, or only those last updated before `updated_before_ms`,
    /// oldest first. Pages through every bucket.
    pub async fn list(&self, updated_before_ms: Option<u64>) -> Result<Vec<ActiveRun>, CassandraError> {
        let buckets: Vec<Vec<ActiveRun>> = futures::stream::iter(0..ACTIVE_RUN_BUCKETS)
            .map(|bucket| self.list_bucket(bucket, updated_before_ms))
            .buffer_unordered(BUCKETS_IN_FLIGHT)
            .try_collect()
            .await?;
        let mut runs: Vec<ActiveRun> = buckets.into_iter().flatten().collect();
        runs.sort_by(|a, b| (a.updated_at_ms, &a.run_id).cmp(&(b.updated_at_ms, &b.run_id)));
        Ok(runs)
    }

    async fn list_bucket(
        &self,
        bucket: i32,
        updated_before_ms: Option<u64>,
    ) -> Result<Vec<ActiveRun>, CassandraError> {
        let failed = |e: String| query_error("SELECT", &self.table, format!("bucket {bucket}: {e}"));
        let mut rows = self
            .session
            .execute_iter(self.select_bucket.clone(), (bucket,))
            .await
            .map_err(|e| failed(e.to_string()))?
            .rows_stream::<(String, Option<String>, Option<CqlTimestamp>)>()
            .map_err(|e| failed(e.to_string()))?;
        let mut runs = Vec::new();
        while let Some((run_id, status, updated_at)) =
            rows.try_next().await.map_err(|e| failed(e.to_string()))?
        {
            let updated_at_ms = updated_at.map_or(0, |t| t.0.max(0) as u64);
            if updated_before_ms.is_some_and(|cutoff| updated_at_ms >= cutoff) {
                continue;
            }
            let status =
                parse_status(status.as_deref()).map_err(|e| failed(format!("run '{run_id}': {e}")))?;
            runs.push(ActiveRun {
                run_id,
                status,
                updated_at_ms,
            });
        }
        Ok(runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_spread() {
        assert_eq!(bucket_of("run-1"), bucket_of("run-1"));
        let used: std::collections::HashSet<i32> =
            (0..1000).map(|i| bucket_of(&format!("run-{i}"))).collect();
        assert_eq!(used.len(), ACTIVE_RUN_BUCKETS as usize);
        assert!(used.iter().all(|b| (0..ACTIVE_RUN_BUCKETS).contains(b)));
    }
}
