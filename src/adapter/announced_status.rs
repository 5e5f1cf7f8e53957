//! The status store as processes other than the executing one see it: results are
//! still recorded in the status row (the truth), and each accepted one is also
//! announced on the results topic; `wait_for_result` wakes on an announcement and
//! returns the result it carries (re-reading the row only when it cannot be read). A
//! waiter that starts listening after the announcement finds the result in the row it
//! reads right after registering; a lost announcement costs a slower re-read, never a
//! result.

use crate::engine::Logger;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::run::{PublishedResult, RunRecord, RunStatus};
use crate::engine::traits::{BackendResult, BoxFuture, StatusStore};
use crate::kafka::ResultsFeed;

/// How long a waiter trusts the feed before reading the row again, first and at most.
/// Each re-read is a Cassandra read per waiting run, only useful when an announcement
/// was lost: under load runs outlast half a second, and a 0.5 s first re-read doubled
/// the reads per run.
const RECHECK_FIRST: Duration = Duration::from_secs(2);
const RECHECK_MAX: Duration = Duration::from_secs(5);

pub struct AnnouncedStatusStore {
    inner: Arc<dyn StatusStore>,
    feed: Arc<ResultsFeed>,
    logger: Logger,
}

impl AnnouncedStatusStore {
    pub fn new(inner: Arc<dyn StatusStore>, feed: Arc<ResultsFeed>, logger: Logger) -> Self {
        AnnouncedStatusStore { inner, feed, logger }
    }

    async fn wait(&self, run_id: &str) -> BackendResult<RunRecord> {
        let mut recheck = RECHECK_FIRST;
        loop {
            let mut listening = self.feed.listen(run_id);
            if let Some(record) = self.inner.get(run_id).await? {
                if record.status != RunStatus::Running {
                    return Ok(record);
                }
            }
            tokio::select! {
                heard = listening.heard() => {
                    // The announcement is what the row accepted: no need to read it again.
                    if let Some(result) = heard.filter(|r| r.status != RunStatus::Running) {
                        return Ok(RunRecord {
                            run_id: run_id.to_string(),
                            status: result.status,
                            updated_at_ms: result.published_at_ms,
                            status_data: Some(result),
                        });
                    }
                    recheck = RECHECK_FIRST;
                }
                _ = tokio::time::sleep(recheck) => recheck = (recheck * 2).min(RECHECK_MAX),
            }
        }
    }
}

impl StatusStore for AnnouncedStatusStore {
    fn mark_running<'a>(&'a self, run_id: &'a str, now_ms: u64) -> BoxFuture<'a, BackendResult<()>> {
        self.inner.mark_running(run_id, now_ms)
    }

    fn create_run<'a>(&'a self, run_id: &'a str, now_ms: u64) -> BoxFuture<'a, BackendResult<bool>> {
        self.inner.create_run(run_id, now_ms)
    }

    fn publish<'a>(
        &'a self,
        run_id: &'a str,
        result: PublishedResult,
        now_ms: u64,
    ) -> BoxFuture<'a, BackendResult<bool>> {
        Box::pin(async move {
            let accepted = self.inner.publish(run_id, result.clone(), now_ms).await?;
            if accepted {
                self.feed.wake(run_id, &result);
                // Not awaited by the job: the row already holds the result.
                let (feed, run_id, logger) = (self.feed.clone(), run_id.to_string(), self.logger.clone());
                // Read here: the spawned task is outside the handling that settled the run.
                let trace = crate::engine::trace::current_node_trace();
                tokio::spawn(async move {
                    if let Err(error) = feed.announce(&run_id, &result, trace.as_ref()).await {
                        logger.warn(
                            &format!("announcing the result of run '{run_id}' failed: {error}"),
                            serde_json::json!({"runId": run_id, "topic": feed.topic()}),
                        );
                    }
                });
            }
            Ok(accepted)
        })
    }

    fn get<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<Option<RunRecord>>> {
        self.inner.get(run_id)
    }

    fn wait_for_result<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<RunRecord>> {
        Box::pin(self.wait(run_id))
    }

    fn published<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<Vec<PublishedResult>>> {
        self.inner.published(run_id)
    }
}
