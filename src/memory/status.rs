//! Run status rows with a log of published results. Final results are
//! monotonic: the first `completed`/`failed` wins.

use std::collections::hash_map::Entry as Slot;
use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::engine::run::{PublishedResult, RunRecord, RunStatus};
use crate::engine::traits::{BackendError, BackendResult, BoxFuture, StatusStore};

struct Entry {
    record: RunRecord,
    published: Vec<PublishedResult>,
}

#[derive(Default)]
pub struct MemoryStatusStore {
    runs: Mutex<HashMap<String, Entry>>,
    changed: Notify,
}

impl MemoryStatusStore {
    pub fn new() -> Self {
        Self::default()
    }
}

fn poisoned(operation: &'static str) -> BackendError {
    BackendError::new(operation, "status lock poisoned")
}

fn new_entry(run_id: &str, now_ms: u64) -> Entry {
    Entry {
        record: RunRecord {
            run_id: run_id.to_string(),
            status: RunStatus::Running,
            status_data: None,
            updated_at_ms: now_ms,
        },
        published: Vec::new(),
    }
}

impl StatusStore for MemoryStatusStore {
    fn mark_running<'a>(&'a self, run_id: &'a str, now_ms: u64) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            let mut runs = self.runs.lock().map_err(|_| poisoned("mark running"))?;
            let entry = runs
                .entry(run_id.to_string())
                .or_insert_with(|| new_entry(run_id, now_ms));
            if !entry.record.status.is_final() {
                entry.record.status = RunStatus::Running;
                entry.record.updated_at_ms = now_ms;
            }
            Ok(())
        })
    }

    fn create_run<'a>(&'a self, run_id: &'a str, now_ms: u64) -> BoxFuture<'a, BackendResult<bool>> {
        Box::pin(async move {
            let mut runs = self.runs.lock().map_err(|_| poisoned("create run"))?;
            match runs.entry(run_id.to_string()) {
                Slot::Occupied(_) => Ok(false),
                Slot::Vacant(vacant) => {
                    vacant.insert(new_entry(run_id, now_ms));
                    Ok(true)
                }
            }
        })
    }

    fn publish<'a>(
        &'a self,
        run_id: &'a str,
        result: PublishedResult,
        now_ms: u64,
    ) -> BoxFuture<'a, BackendResult<bool>> {
        Box::pin(async move {
            let accepted = {
                let mut runs = self.runs.lock().map_err(|_| poisoned("publish result"))?;
                let entry = runs
                    .entry(run_id.to_string())
                    .or_insert_with(|| new_entry(run_id, now_ms));
                if entry.record.status.is_final() {
                    false
                } else {
                    entry.record.status = result.status;
                    entry.record.updated_at_ms = now_ms;
                    entry.record.status_data = Some(result.clone());
                    entry.published.push(result);
                    true
                }
            };
            if accepted {
                self.changed.notify_waiters();
            }
            Ok(accepted)
        })
    }

    fn get<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<Option<RunRecord>>> {
        Box::pin(async move {
            let runs = self.runs.lock().map_err(|_| poisoned("get status"))?;
            Ok(runs.get(run_id).map(|e| e.record.clone()))
        })
    }

    fn wait_for_result<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<RunRecord>> {
        Box::pin(async move {
            loop {
                let changed = self.changed.notified();
                {
                    let runs = self.runs.lock().map_err(|_| poisoned("wait for result"))?;
                    if let Some(entry) = runs.get(run_id) {
                        if entry.record.status != RunStatus::Running {
                            return Ok(entry.record.clone());
                        }
                    }
                }
                changed.await;
            }
        })
    }

    fn published<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<Vec<PublishedResult>>> {
        Box::pin(async move {
            let runs = self.runs.lock().map_err(|_| poisoned("published results"))?;
            Ok(runs.get(run_id).map(|e| e.published.clone()).unwrap_or_default())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: RunStatus) -> PublishedResult {
        PublishedResult {
            status,
            failed_node: None,
            reason: None,
            context: None,
            published_at_ms: 0,
        }
    }

    #[tokio::test]
    async fn first_final_result_wins() {
        let store = MemoryStatusStore::new();
        store.mark_running("r", 1).await.unwrap();
        assert!(store.publish("r", result(RunStatus::Awaiting), 2).await.unwrap());
        store.mark_running("r", 3).await.unwrap();
        assert!(store.publish("r", result(RunStatus::Failed), 4).await.unwrap());
        assert!(!store.publish("r", result(RunStatus::Completed), 5).await.unwrap());
        assert!(!store.publish("r", result(RunStatus::Awaiting), 6).await.unwrap());
        store.mark_running("r", 7).await.unwrap();
        let statuses: Vec<_> = store
            .published("r")
            .await
            .unwrap()
            .iter()
            .map(|p| p.status)
            .collect();
        assert_eq!(statuses, [RunStatus::Awaiting, RunStatus::Failed]);
        assert_eq!(store.get("r").await.unwrap().unwrap().status, RunStatus::Failed);
    }

    #[tokio::test]
    async fn waiter_resolves_on_publish() {
        let store = std::sync::Arc::new(MemoryStatusStore::new());
        store.mark_running("r", 0).await.unwrap();
        let waiter = tokio::spawn({
            let s = store.clone();
            async move { s.wait_for_result("r").await.unwrap().status }
        });
        tokio::task::yield_now().await;
        store.publish("r", result(RunStatus::Completed), 1).await.unwrap();
        assert_eq!(waiter.await.unwrap(), RunStatus::Completed);
    }
}
