use std::collections::HashSet;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};

use super::{drop_keyspace, fresh_stores};
use crate::engine::run::{PublishedResult, RunStatus};
use crate::engine::traits::StatusStore;

fn final_result(status: RunStatus) -> PublishedResult {
    PublishedResult {
        status,
        failed_node: None,
        reason: None,
        context: None,
        published_at_ms: 0,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn active_runs_lists_over_5000_runs_and_drops_final_ones() {
    let stores = fresh_stores("active").await;
    let status = stores.status.as_ref();
    let runs = 6000u64;
    let started = Instant::now();
    futures::stream::iter(0..runs)
        .map(|i| async move { StatusStore::mark_running(status, &format!("run-{i:05}"), 1_000 + i).await })
        .buffer_unordered(64)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    eprintln!("mark_running x{runs} (64 in flight): {:?}", started.elapsed());

    let started = Instant::now();
    let listed = status.active_runs(None).await.unwrap();
    eprintln!("active_runs over {runs} runs: {:?}", started.elapsed());
    assert_eq!(listed.len(), runs as usize);
    let ids: HashSet<&str> = listed.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids.len(), runs as usize);
    assert!(listed
        .windows(2)
        .all(|w| w[0].updated_at_ms <= w[1].updated_at_ms));
    assert!(listed.iter().all(|r| r.status == RunStatus::Running));

    let stale = status.active_runs(Some(1_000 + 100)).await.unwrap();
    assert_eq!(stale.len(), 100);
    assert_eq!(stale[0].run_id, "run-00000");

    // Half the runs finish, some wait for a human.
    let started = Instant::now();
    futures::stream::iter(0..runs / 2)
        .map(|i| async move {
            let outcome = if i % 2 == 0 {
                RunStatus::Completed
            } else {
                RunStatus::Failed
            };
            StatusStore::publish(status, &format!("run-{i:05}"), final_result(outcome), 9_000).await
        })
        .buffer_unordered(64)
        .try_collect::<Vec<bool>>()
        .await
        .unwrap();
    eprintln!(
        "final publish x{} (64 in flight): {:?}",
        runs / 2,
        started.elapsed()
    );
    for i in runs / 2..runs / 2 + 10 {
        let run_id = format!("run-{i:05}");
        assert!(
            StatusStore::publish(status, &run_id, final_result(RunStatus::Awaiting), 9_500)
                .await
                .unwrap()
        );
    }
    let listed = status.active_runs(None).await.unwrap();
    assert_eq!(listed.len(), (runs / 2) as usize);
    assert!(listed.iter().all(|r| r.run_id.as_str() >= "run-03000"));
    let awaiting: Vec<_> = listed
        .iter()
        .filter(|r| r.status == RunStatus::Awaiting)
        .collect();
    assert_eq!(awaiting.len(), 10);
    assert!(awaiting.iter().all(|r| r.updated_at_ms == 9_500));
    drop_keyspace(&stores).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_final_run_leaves_the_index_and_keeps_its_result() {
    let stores = fresh_stores("active_final").await;
    let status = stores.status.as_ref();
    StatusStore::mark_running(status, "done", 1).await.unwrap();
    assert!(
        StatusStore::publish(status, "done", final_result(RunStatus::Completed), 2)
            .await
            .unwrap()
    );
    assert!(status.active_runs(None).await.unwrap().is_empty());
    // A late write to a final run (the engine makes none: it checks first) leaves its
    // result as it is; the index row it adds is one the reconciler drops (forget_active).
    StatusStore::mark_running(status, "done", 3).await.unwrap();
    StatusStore::publish(status, "done", final_result(RunStatus::Awaiting), 4)
        .await
        .unwrap();
    assert_eq!(
        StatusStore::get(status, "done").await.unwrap().unwrap().status,
        RunStatus::Completed
    );
    status.forget_active("done").await.unwrap();
    // forget_active heals a row left by a crash between the two writes.
    StatusStore::mark_running(status, "alive", 5).await.unwrap();
    status.forget_active("alive").await.unwrap();
    assert!(status.active_runs(None).await.unwrap().is_empty());
    drop_keyspace(&stores).await;
}
