use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::{drop_keyspace, fresh_stores, local_options, unique_names};
use crate::cassandra::{session, CassandraError, ContextTable};
use crate::engine::traits::{BackendError, ContextOp, ContextStore, WriteStamp};

#[tokio::test(flavor = "multi_thread")]
async fn context_round_trips_every_trait_method() {
    let stores = fresh_stores("ctx_rt").await;
    let store: &dyn ContextStore = stores.context.as_ref();
    assert!(store.load("r1").await.unwrap().is_empty());
    assert_eq!(store.get("r1", "a").await.unwrap(), None);
    store
        .apply(
            "r1",
            vec![
                ContextOp::set("a", json!({"n": 1})),
                ContextOp::set("b", json!([1, "x", null])),
                ContextOp::set("c", json!(null)),
                ContextOp::set("_outputs.x", json!("out")),
            ],
            WriteStamp::next(),
        )
        .await
        .unwrap();
    store
        .apply("r1", vec![ContextOp::delete("b")], WriteStamp::next())
        .await
        .unwrap();
    store.apply("r1", vec![], WriteStamp::next()).await.unwrap();
    store
        .apply("r2", vec![ContextOp::set("a", json!(2))], WriteStamp::next())
        .await
        .unwrap();
    assert_eq!(store.get("r1", "a").await.unwrap(), Some(json!({"n": 1})));
    assert_eq!(store.get("r1", "b").await.unwrap(), None);
    assert_eq!(store.get("r1", "c").await.unwrap(), Some(json!(null)));
    let loaded = store.load("r1").await.unwrap();
    assert_eq!(
        serde_json::Value::Object(loaded),
        json!({"a": {"n": 1}, "c": null, "_outputs.x": "out"})
    );
    assert_eq!(store.get("r2", "a").await.unwrap(), Some(json!(2)));
    drop_keyspace(&stores).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ops_on_one_key_in_one_batch_apply_in_order() {
    let stores = fresh_stores("ctx_order").await;
    let store = stores.context.as_ref();
    ContextStore::apply(
        store,
        "r",
        vec![
            ContextOp::delete("a"),
            ContextOp::set("a", json!(1)),
            ContextOp::set("b", json!(9)),
            ContextOp::set("b", json!(1)),
            ContextOp::set("c", json!(1)),
            ContextOp::delete("c"),
        ],
        WriteStamp::next(),
    )
    .await
    .unwrap();
    let loaded = ContextStore::load(store, "r").await.unwrap();
    assert_eq!(serde_json::Value::Object(loaded), json!({"a": 1, "b": 1}));
    drop_keyspace(&stores).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_write_never_undoes_a_newer_one() {
    let stores = fresh_stores("ctx_replay").await;
    let store = stores.context.as_ref();
    let (first, second) = (WriteStamp::next(), WriteStamp::next());
    let replay = || vec![ContextOp::set("a", json!(1)), ContextOp::set("b", json!(1))];
    ContextStore::apply(store, "r", replay(), first).await.unwrap();
    let newer = vec![ContextOp::set("a", json!(2)), ContextOp::delete("b")];
    ContextStore::apply(store, "r", newer, second).await.unwrap();
    ContextStore::apply(store, "r", replay(), first).await.unwrap();
    let single = vec![ContextOp::set("a", json!(1))];
    ContextStore::apply(store, "r", single, first).await.unwrap();
    let loaded = ContextStore::load(store, "r").await.unwrap();
    assert_eq!(
        serde_json::Value::Object(loaded),
        json!({"a": 2}),
        "the newer set and delete stand"
    );
    drop_keyspace(&stores).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_applies_to_one_run_lose_no_update() {
    let stores = fresh_stores("ctx_conc").await;
    let store = Arc::clone(&stores.context);
    let started = Instant::now();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let ops = vec![
                    ContextOp::set(format!("_outputs.n{i}"), json!(i)),
                    ContextOp::set(format!("_inputs.n{i}"), json!({"from": i})),
                ];
                ContextStore::apply(store.as_ref(), "run", ops, WriteStamp::next()).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let elapsed = started.elapsed();
    let loaded = ContextStore::load(store.as_ref(), "run").await.unwrap();
    assert_eq!(loaded.len(), 80);
    for i in 0..40 {
        assert_eq!(loaded[&format!("_outputs.n{i}")], json!(i));
    }
    eprintln!("40 concurrent applies (2 keys each): {elapsed:?}");
    drop_keyspace(&stores).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn load_pages_through_large_contexts_and_apply_latency() {
    let stores = fresh_stores("ctx_page").await;
    let store = stores.context.as_ref();
    for chunk in 0..25 {
        let ops = (0..100)
            .map(|i| ContextOp::set(format!("k{}", chunk * 100 + i), json!(i)))
            .collect();
        ContextStore::apply(store, "big", ops, WriteStamp::next())
            .await
            .unwrap();
    }
    let started = Instant::now();
    let loaded = ContextStore::load(store, "big").await.unwrap();
    eprintln!("load of 2500 keys: {:?}", started.elapsed());
    assert_eq!(loaded.len(), 2500);
    let rounds = 200;
    let started = Instant::now();
    for i in 0..rounds {
        let ops = vec![
            ContextOp::set(format!("_outputs.s{i}"), json!(i)),
            ContextOp::set(format!("_inputs.s{i}"), json!(i)),
        ];
        ContextStore::apply(store, "seq", ops, WriteStamp::next())
            .await
            .unwrap();
    }
    eprintln!(
        "sequential apply (2-op batch): {:?} per call",
        started.elapsed() / rounds
    );
    drop_keyspace(&stores).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_table_is_reported_by_name() {
    let names = unique_names("ctx_missing");
    let session = session::connect(&local_options())
        .await
        .expect("local Cassandra must be running");
    let error = ContextTable::open(session, &names.keyspace, "no_such_table", false)
        .await
        .err()
        .expect("opening a missing table fails");
    assert!(matches!(error, CassandraError::MissingTable { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains(&format!("{}.no_such_table", names.keyspace)),
        "{error}"
    );
    let stores = crate::cassandra::CassandraStores::connect(&local_options(), names.clone(), false).await;
    let error = stores.err().expect("stores without schema fail");
    assert!(error.to_string().contains("flowcraft_contexts"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn backend_errors_name_table_and_run() {
    let stores = fresh_stores("ctx_err").await;
    let table = format!("{}.{}", stores.names.keyspace, stores.names.context);
    stores
        .session
        .query_unpaged(format!("DROP TABLE {table}"), &[])
        .await
        .unwrap();
    let error = ContextStore::load(stores.context.as_ref(), "run-x")
        .await
        .unwrap_err();
    assert_eq!(error.operation, "load context");
    assert!(error.message.contains(&table), "{error}");
    assert!(error.message.contains("run-x"), "{error}");
    drop_keyspace(&stores).await;
}

/// The code of the Cassandra error a backend error carries as its cause.
fn cause_code(error: &BackendError) -> Option<&str> {
    error.cause.as_ref().and_then(|cause| cause.code.as_deref())
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_permanent_and_outages_are_not() {
    let stores = fresh_stores("ctx_refuse").await;
    let store: &dyn ContextStore = stores.context.as_ref();
    // Cassandra itself refuses a partition key over 64 KiB: sending it again cannot help.
    let huge_run_id = "r".repeat(70_000);
    let refused = store
        .apply(
            &huge_run_id,
            vec![ContextOp::set("a", json!(1))],
            WriteStamp::next(),
        )
        .await
        .unwrap_err();
    assert!(refused.permanent, "{refused}");
    assert_eq!(cause_code(&refused), Some("ERR_CASSANDRA_QUERY"), "{refused}");
    // A cell over the request limit is refused before it is sent, naming run and key.
    let too_large = store
        .apply(
            "big",
            vec![ContextOp::set("huge", json!("x".repeat(16 * 1024 * 1024)))],
            WriteStamp::next(),
        )
        .await
        .unwrap_err();
    assert!(too_large.permanent, "{too_large}");
    assert_eq!(
        cause_code(&too_large),
        Some("ERR_CASSANDRA_TOO_LARGE"),
        "{too_large}"
    );
    assert!(too_large.message.contains("'huge'"), "{too_large}");
    assert!(
        store.load("big").await.unwrap().is_empty(),
        "nothing of it was written"
    );
    drop_keyspace(&stores).await;
    // A keyspace that is gone is an outage an operator mends, not a refusal of the write.
    let gone = store
        .apply("r", vec![ContextOp::set("a", json!(1))], WriteStamp::next())
        .await
        .unwrap_err();
    assert!(!gone.permanent, "{gone}");
    assert!(gone.message.contains("does not exist"), "{gone}");
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_too_large_for_one_request_go_in_several() {
    let stores = fresh_stores("ctx_split").await;
    let store: &dyn ContextStore = stores.context.as_ref();
    // 17 MiB in five cells: over one request's bytes.
    let chunk = json!("x".repeat(3_500_000));
    let mut ops: Vec<ContextOp> = ["a", "b", "c", "d"]
        .map(|key| ContextOp::set(key, chunk.clone()))
        .to_vec();
    ops.push(ContextOp::set("_outputs.n", chunk.clone()));
    store.apply("wide", ops, WriteStamp::next()).await.unwrap();
    let wide = store.load("wide").await.unwrap();
    assert_eq!(wide.len(), 5);
    assert_eq!(wide.get("_outputs.n"), Some(&chunk));
    // 70,000 cells: over the 65,535 statements one batch can count.
    let items: Vec<ContextOp> = (0..70_000)
        .map(|i| ContextOp::set(format!("item_{i}"), json!(i)))
        .collect();
    store.apply("many", items, WriteStamp::next()).await.unwrap();
    let many = store.load("many").await.unwrap();
    assert_eq!(many.len(), 70_000);
    assert_eq!(many.get("item_69999"), Some(&json!(69_999)));
    drop_keyspace(&stores).await;
}
