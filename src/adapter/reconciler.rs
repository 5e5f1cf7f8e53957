//! One reconciliation pass over the active-runs index: every run not started or
//! resumed within the threshold is checked (`engine::reconcile`); runs the index still
//! lists although they are final are dropped from it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;

use super::distributed::DistributedBackends;
use crate::engine::run::RunStatus;
use crate::engine::{Engine, Reconciled};
use crate::errors::{AnyCodedError, CodedError};

/// Runs checked at once.
const RUNS_IN_FLIGHT: usize = 16;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconciliationStats {
    /// Runs with no progress for the threshold.
    pub stalled_runs: u64,
    /// Of those, runs whose lost work was published again (or that were settled).
    pub reconciled_runs: u64,
    /// Of those, runs that could not be resumed (failed with the reason) or whose
    /// reconciliation hit an error (retried on the next pass).
    pub failed_runs: u64,
}

pub async fn reconcile_once(
    engine: &Arc<Engine>,
    backends: &DistributedBackends,
    threshold: Duration,
) -> Result<ReconciliationStats, AnyCodedError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let cutoff = now.saturating_sub(threshold.as_millis() as u64);
    let status = backends
        .status_store()
        .ok_or_else(|| AnyCodedError(Box::new(crate::errors::NotStarted)))?;
    let candidates = backends.active_runs(cutoff).await?;
    let outcomes: Vec<Result<Reconciled, AnyCodedError>> = futures::stream::iter(candidates)
        .filter(|run| std::future::ready(run.status != RunStatus::Awaiting))
        .map(|run| {
            let (engine, status) = (engine.clone(), status.clone());
            async move {
                let outcome = engine.reconcile_run(&run.run_id, cutoff).await?;
                if outcome == Reconciled::Final {
                    status.forget_active(&run.run_id).await?;
                }
                Ok(outcome)
            }
        })
        .buffer_unordered(RUNS_IN_FLIGHT)
        .collect()
        .await;
    let mut stats = ReconciliationStats::default();
    for outcome in outcomes {
        match outcome {
            Ok(Reconciled::Republished { .. } | Reconciled::Resumed { .. } | Reconciled::Settled) => {
                stats.stalled_runs += 1;
                stats.reconciled_runs += 1;
            }
            Ok(Reconciled::Failed { .. }) => {
                stats.stalled_runs += 1;
                stats.failed_runs += 1;
            }
            Err(error) => {
                engine.logger().warn(
                    &format!("reconciling a stalled run failed (retried next pass): {error}"),
                    serde_json::json!({"code": error.code()}),
                );
                stats.stalled_runs += 1;
                stats.failed_runs += 1;
            }
            Ok(Reconciled::Final | Reconciled::Awaiting | Reconciled::Progressing) => {}
        }
    }
    Ok(stats)
}
