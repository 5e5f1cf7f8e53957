use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::{drop_keyspace, fresh_stores, second_process};
use crate::cassandra::{CassandraStatusStore, CassandraStores};
use crate::engine::run::{PublishedResult, RunStatus};
use crate::engine::traits::StatusStore;

fn result(status: RunStatus, at: u64) -> PublishedResult {
    PublishedResult {
        status,
        failed_node: None,
        reason: (status == RunStatus::Failed).then(|| format!("boom at {at}")),
        context: None,
        published_at_ms: at,
    }
}

/// The status store of one process or the other, by the parity of `i`.
fn alternating(first: &CassandraStores, second: &CassandraStores, i: u64) -> Arc<CassandraStatusStore> {
    Arc::clone(if i.is_multiple_of(2) {
        &first.status
    } else {
        &second.status
    })
}

fn completed(at: u64) -> PublishedResult {
    let mut context = Map::new();
    context.insert("final_output".into(), json!({"n": at}));
    PublishedResult {
        context: Some(context),
        ..result(RunStatus::Completed, at)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_round_trips_and_final_is_monotonic() {
    let stores = fresh_stores("st_rt").await;
    let store: &dyn StatusStore = stores.status.as_ref();
    assert_eq!(store.get("r").await.unwrap(), None);
    assert!(store.published("r").await.unwrap().is_empty());
    store.mark_running("r", 1).await.unwrap();
    let record = store.get("r").await.unwrap().unwrap();
    assert_eq!(
        (record.status, record.status_data, record.updated_at_ms),
        (RunStatus::Running, None, 1)
    );
    assert!(store
        .publish("r", result(RunStatus::Awaiting, 2), 2)
        .await
        .unwrap());
    assert_eq!(store.get("r").await.unwrap().unwrap().status, RunStatus::Awaiting);
    store.mark_running("r", 3).await.unwrap();
    assert_eq!(store.get("r").await.unwrap().unwrap().status, RunStatus::Running);
    assert!(store.publish("r", result(RunStatus::Failed, 4), 4).await.unwrap());
    // Nothing written after the final result changes it, not even a later final.
    store.publish("r", completed(5), 5).await.unwrap();
    store.mark_running("r", 7).await.unwrap();
    let record = store.get("r").await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(record.status_data, Some(result(RunStatus::Failed, 4)));
    assert_eq!(record.updated_at_ms, 4);
    let statuses: Vec<_> = store
        .published("r")
        .await
        .unwrap()
        .iter()
        .map(|p| p.status)
        .collect();
    assert_eq!(statuses, [RunStatus::Awaiting, RunStatus::Failed]);
    drop_keyspace(&stores).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn completed_result_keeps_the_reference_shape() {
    let stores = fresh_stores("st_shape").await;
    let store: &dyn StatusStore = stores.status.as_ref();
    // Published without mark_running first: the row is created.
    assert!(store.publish("c", completed(10), 10).await.unwrap());
    let record = store.get("c").await.unwrap().unwrap();
    assert_eq!(record.status_data, Some(completed(10)));
    assert_eq!(store.published("c").await.unwrap(), vec![completed(10)]);
    let table = format!("{}.{}", stores.names.keyspace, stores.names.status);
    let (status, data) = stores
        .session
        .query_unpaged(
            format!("SELECT status, status_data FROM {table} WHERE run_id = 'c'"),
            &[],
        )
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .single_row::<(String, String)>()
        .unwrap();
    assert_eq!(status, "completed");
    let data: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(data["status"], json!("completed"));
    assert_eq!(data["payload"]["context"]["final_output"], json!({"n": 10}));
    drop_keyspace(&stores).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_is_created_once_whatever_its_status_and_by_one_of_two_processes() {
    let stores = fresh_stores("st_create").await;
    let other = second_process(&stores).await;
    let store: &dyn StatusStore = stores.status.as_ref();
    assert!(store.create_run("c", 1).await.unwrap());
    assert!(!store.create_run("c", 2).await.unwrap());
    let record = store.get("c").await.unwrap().unwrap();
    assert_eq!((record.status, record.updated_at_ms), (RunStatus::Running, 1));
    // A finished run, and one only ever marked running (started before this check), exist.
    store.publish("c", completed(3), 3).await.unwrap();
    assert!(!other.status.create_run("c", 4).await.unwrap());
    store.mark_running("m", 1).await.unwrap();
    assert!(!store.create_run("m", 2).await.unwrap());
    // Of concurrent creations from two processes, exactly one wins.
    let tasks: Vec<_> = (0..16u64)
        .map(|i| {
            let store = alternating(&stores, &other, i);
            tokio::spawn(async move { store.create_run("contended", 10 + i).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        created += usize::from(task.await.unwrap().unwrap());
    }
    assert_eq!(created, 1);
    drop_keyspace(&stores).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_earliest_final_stands_under_concurrent_publish_from_two_processes() {
    let stores = fresh_stores("st_race").await;
    let other = second_process(&stores).await;
    for round in 0..3 {
        let run_id = format!("race-{round}");
        stores.status.mark_running(&run_id, 1).await.unwrap();
        let tasks: Vec<_> = (0..24u64)
            .map(|i| {
                let store = alternating(&stores, &other, i);
                let run_id = run_id.clone();
                tokio::spawn(async move {
                    let result = if i % 3 == 0 {
                        completed(i)
                    } else {
                        result(RunStatus::Failed, i)
                    };
                    StatusStore::publish(store.as_ref(), &run_id, result, 100 + i).await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        // Which final is announced is the engine's claim; the row keeps the earliest.
        let published = stores.status.published(&run_id).await.unwrap();
        assert_eq!(published, [completed(0)]);
        let record = other.status.get(&run_id).await.unwrap().unwrap();
        assert_eq!(record.status, RunStatus::Completed);
        assert_eq!(record.status_data.as_ref(), Some(&published[0]));
        assert_eq!(record.updated_at_ms, 100);
    }
    drop_keyspace(&stores).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_for_result_resolves_from_another_process() {
    let stores = fresh_stores("st_wait").await;
    let other = second_process(&stores).await;
    stores.status.mark_running("w", 1).await.unwrap();
    let waiter = {
        let status = Arc::clone(&stores.status);
        tokio::spawn(async move { StatusStore::wait_for_result(status.as_ref(), "w").await })
    };
    let never_started = {
        let status = Arc::clone(&stores.status);
        tokio::spawn(async move { StatusStore::wait_for_result(status.as_ref(), "late").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished());
    let published_at = Instant::now();
    assert!(other
        .status
        .publish("w", result(RunStatus::Awaiting, 2), 2)
        .await
        .unwrap());
    let record = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    eprintln!(
        "wait_for_result saw the publish after {:?}",
        published_at.elapsed()
    );
    assert_eq!(record.status, RunStatus::Awaiting);
    // A run whose row appears only with its result also resolves.
    assert!(other.status.publish("late", completed(3), 3).await.unwrap());
    let record = tokio::time::timeout(Duration::from_secs(5), never_started)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(record.status, RunStatus::Completed);
    assert_eq!(record.status_data, Some(completed(3)));
    drop_keyspace(&stores).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn status_errors_name_table_and_run() {
    let stores = fresh_stores("st_err").await;
    let table = format!("{}.{}", stores.names.keyspace, stores.names.status);
    stores
        .session
        .query_unpaged(format!("DROP TABLE {table}"), &[])
        .await
        .unwrap();
    let error = StatusStore::get(stores.status.as_ref(), "run-y")
        .await
        .unwrap_err();
    assert_eq!(error.operation, "get status");
    assert!(
        error.message.contains(&table) && error.message.contains("run-y"),
        "{error}"
    );
    let cause = error.cause.as_ref().expect("the Cassandra error as the cause");
    assert_eq!(cause.code.as_deref(), Some("ERR_CASSANDRA_QUERY"), "{error}");
    assert_eq!(cause.details.table.as_deref(), Some(table.as_str()), "{error}");
    drop_keyspace(&stores).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reference_status_table_gets_its_published_column() {
    let names = super::unique_names("st_ref");
    let session = crate::cassandra::session::connect(&super::local_options())
        .await
        .unwrap();
    let keyspace = &names.keyspace;
    session
        .query_unpaged(
            format!(
                "CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
            ),
            &[],
        )
        .await
        .unwrap();
    for ddl in [
        format!("CREATE TABLE {keyspace}.flowcraft_contexts (run_id text, key text, value text, PRIMARY KEY (run_id, key))"),
        format!("CREATE TABLE {keyspace}.flowcraft_statuses (run_id text PRIMARY KEY, status text, status_data text, updated_at timestamp)"),
        format!("CREATE TABLE {keyspace}.flowcraft_statuses_active (bucket int, run_id text, status text, updated_at timestamp, PRIMARY KEY (bucket, run_id))"),
    ] {
        session.query_unpaged(ddl, &[]).await.unwrap();
    }
    let refused = crate::cassandra::CassandraStores::open(
        std::sync::Arc::clone(&session),
        names.clone(),
        false,
        crate::cassandra::ResultPolling::default(),
    )
    .await
    .err()
    .expect("the published column is missing");
    assert!(refused.to_string().contains("column published"), "{refused}");
    let stores = crate::cassandra::CassandraStores::open(
        session,
        names,
        true,
        crate::cassandra::ResultPolling::default(),
    )
    .await
    .unwrap();
    assert!(
        StatusStore::publish(stores.status.as_ref(), "r", result(RunStatus::Failed, 1), 1)
            .await
            .unwrap()
    );
    assert_eq!(stores.status.published("r").await.unwrap().len(), 1);
    drop_keyspace(&stores).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn status_transition_latency() {
    let stores = fresh_stores("st_lat").await;
    let store: &dyn StatusStore = stores.status.as_ref();
    let rounds = 100u32;
    let (mut start, mut publish, mut read) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for i in 0..rounds {
        let run_id = format!("lat-{i}");
        let t = Instant::now();
        store.mark_running(&run_id, 1).await.unwrap();
        start += t.elapsed();
        let t = Instant::now();
        assert!(store.publish(&run_id, completed(2), 2).await.unwrap());
        publish += t.elapsed();
        let t = Instant::now();
        store.get(&run_id).await.unwrap().unwrap();
        read += t.elapsed();
    }
    eprintln!(
        "sequential per run: mark_running {:?}, final publish {:?}, get {:?}",
        start / rounds,
        publish / rounds,
        read / rounds
    );
    drop_keyspace(&stores).await;
}
