//! Integration tests against the local Redis (127.0.0.1:6379, started by
//! `stack/stack.sh up` / `npm test`). They fail, never skip, without it.
//! Each test uses its own run ids, so tests run in parallel on one Redis.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::prelude::*;
use fred::types::{ClusterHash, CustomCommand};

use super::coordination_store::{CoordinationSettings, RedisCoordination};
use super::run_keys::{run_hash, Place};
use super::{RedisError, RedisOptions};
use crate::engine::keys;
use crate::engine::traits::{CoordinationStore, Reservation, SetAdd};

fn local_options() -> RedisOptions {
    RedisOptions {
        url: std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        connect_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

async fn store_with_ttl(ttl: Duration) -> RedisCoordination {
    RedisCoordination::connect(&local_options(), CoordinationSettings { key_ttl: ttl })
        .await
        .expect("local Redis at 127.0.0.1:6379 must be running (bash stack/stack.sh up)")
}

async fn default_store() -> RedisCoordination {
    store_with_ttl(super::DEFAULT_KEY_TTL).await
}

fn unique_run(label: &str) -> String {
    format!("{label}-{}", uuid::Uuid::new_v4().simple())
}

async fn ttl_of(store: &RedisCoordination, key: &str) -> i64 {
    store.connection().client().ttl(key).await.expect("TTL")
}

#[tokio::test(flavor = "multi_thread")]
async fn coordination_round_trips_every_trait_method() {
    let store = default_store().await;
    let run = unique_run("rt");
    let set = keys::fan_in(&run, "join");
    assert_eq!(
        store.add_member(&set, "a").await.unwrap(),
        SetAdd { added: true, size: 1 }
    );
    assert_eq!(
        store.add_member(&set, "a").await.unwrap(),
        SetAdd {
            added: false,
            size: 1
        }
    );
    assert_eq!(store.add_member(&set, "b").await.unwrap().size, 2);
    assert_eq!(store.set_size(&set).await.unwrap(), 2);
    assert_eq!(store.remove_member(&set, "a").await.unwrap(), 1);
    assert_eq!(store.remove_member(&set, "a").await.unwrap(), 1);
    assert_eq!(store.remove_member(&set, "b").await.unwrap(), 0);
    assert_eq!(store.set_size(&set).await.unwrap(), 0);
    assert_eq!(store.remove_member(&set, "zz").await.unwrap(), 0);
    store.add_member(&set, "c").await.unwrap();
    store.clear_set(&set).await.unwrap();
    assert_eq!(store.set_size(&set).await.unwrap(), 0);
    let claim = keys::any_join_fired(&run, "join");
    assert!(store.claim_once(&claim, "job-1").await.unwrap());
    assert!(!store.claim_once(&claim, "job-2").await.unwrap());
    assert_eq!(store.get(&claim).await.unwrap().as_deref(), Some("job-1"));
    assert_eq!(store.get(&keys::job_done(&run, "nope")).await.unwrap(), None);
    // A key outside any run works too (no run index).
    let loose = format!("flowcraft-test:{run}");
    assert!(store.claim_once(&loose, "x").await.unwrap());
    assert!(ttl_of(&store, &loose).await > 0);
    store.connection().delete(&loose).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_key_written_has_a_ttl_and_a_run_is_one_hash() {
    let ttl = Duration::from_secs(3600);
    let store = store_with_ttl(ttl).await;
    let run = unique_run("ttl");
    let written = [
        keys::any_join_fired(&run, "j"),
        keys::join_fired_by(&run, "j", "job"),
        keys::job_done(&run, "job"),
        keys::subflow_parent(&run),
    ];
    store.add_member(&keys::outstanding(&run), "job").await.unwrap();
    store.add_member(&keys::fan_in(&run, "j"), "a").await.unwrap();
    store.add_member(&keys::fan_in(&run, "j"), "b").await.unwrap();
    store.remove_member(&keys::fan_in(&run, "j"), "a").await.unwrap();
    for key in &written {
        store.claim_once(key, "v").await.unwrap();
        let exists: i64 = store.connection().client().exists(key).await.unwrap();
        assert_eq!(exists, 0, "{key} is a field of the run's hash, not a key");
    }
    let left = ttl_of(&store, &run_hash(&run)).await;
    assert!(left > 3500 && left <= 3600, "the run's hash has TTL {left}");
    // Two set members, two set counts, four values: one field each.
    let fields: i64 = store.connection().client().hlen(run_hash(&run)).await.unwrap();
    assert_eq!(fields, 8);
    store.forget_run(&run).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn any_write_to_a_run_renews_all_its_keys() {
    // W22: a join set written long before its sibling branch arrives must live on.
    let store = store_with_ttl(Duration::from_secs(20)).await;
    let run = unique_run("renew");
    let join = keys::fan_in(&run, "join");
    store.add_member(&join, "early-branch").await.unwrap();
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert!(ttl_of(&store, &run_hash(&run)).await <= 17);
    store
        .claim_once(&keys::job_done(&run, "other-job"), "done")
        .await
        .unwrap();
    assert!(
        ttl_of(&store, &run_hash(&run)).await >= 19,
        "the join set was renewed"
    );
    assert_eq!(store.members(&join).await.unwrap(), ["early-branch"]);
    store.forget_run(&run).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_redelivered_arrivals_count_once_and_fire_once() {
    let store = Arc::new(default_store().await);
    let run = unique_run("fanin");
    let join = keys::fan_in(&run, "join");
    let predecessors = 10;
    let tasks: Vec<_> = (0..predecessors * 5)
        .map(|i| {
            let (store, join) = (Arc::clone(&store), join.clone());
            tokio::spawn(async move {
                store
                    .add_member(&join, &format!("pred-{}", i % predecessors))
                    .await
            })
        })
        .collect();
    let mut added = 0;
    let mut fired = 0;
    for task in tasks {
        let outcome = task.await.unwrap().unwrap();
        added += usize::from(outcome.added);
        fired += usize::from(outcome.added && outcome.size == predecessors);
    }
    assert_eq!(added, predecessors);
    assert_eq!(fired, 1, "the join fires exactly once");
    assert_eq!(store.set_size(&join).await.unwrap(), predecessors);

    let claim = keys::any_join_fired(&run, "any");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (store, claim) = (Arc::clone(&store), claim.clone());
            tokio::spawn(async move { store.claim_once(&claim, &format!("job-{i}")).await })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap().unwrap());
    }
    assert_eq!(winners, 1);
    store.forget_run(&run).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn forgetting_a_run_drops_only_its_keys() {
    let store = default_store().await;
    let run = unique_run("forget");
    let neighbour = format!("{run}0");
    store.add_member(&keys::fan_in(&run, "j"), "a").await.unwrap();
    store.add_member(&keys::outstanding(&run), "t").await.unwrap();
    store
        .claim_once(&keys::job_done(&run, "x"), "done")
        .await
        .unwrap();
    store
        .claim_once(&keys::job_done(&neighbour, "x"), "done")
        .await
        .unwrap();
    store.forget_run(&run).await.unwrap();
    assert_eq!(store.set_size(&keys::fan_in(&run, "j")).await.unwrap(), 0);
    assert_eq!(store.set_size(&keys::outstanding(&run)).await.unwrap(), 0);
    assert_eq!(store.get(&keys::job_done(&run, "x")).await.unwrap(), None);
    let left: HashMap<String, String> = store.connection().client().hgetall(run_hash(&run)).await.unwrap();
    let epoch = Place::of(&keys::epoch(&run)).value();
    assert_eq!(
        left,
        HashMap::from([(epoch, "1".to_string())]),
        "nothing but the epoch (bumped: the run is final) and final claim outlives a run"
    );
    assert!(store
        .get(&keys::job_done(&neighbour, "x"))
        .await
        .unwrap()
        .is_some());
    store.forget_run(&neighbour).await.unwrap();
    store.forget_run("never-existed").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn survives_a_dropped_connection() {
    let store = default_store().await;
    let killer = default_store().await;
    let run = unique_run("reconnect");
    let key = keys::fan_in(&run, "j");
    store.add_member(&key, "before").await.unwrap();
    let id: i64 = store
        .connection()
        .client()
        .custom(
            CustomCommand::new_static("CLIENT", ClusterHash::Random, false),
            vec!["ID"],
        )
        .await
        .unwrap();
    let _: Value = killer
        .connection()
        .client()
        .custom(
            CustomCommand::new_static("CLIENT", ClusterHash::Random, false),
            vec!["KILL".to_string(), "ID".to_string(), id.to_string()],
        )
        .await
        .unwrap();
    // Every call either succeeds or returns a BackendError; within a few
    // seconds the store works again on its own.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut errors = 0;
    loop {
        match store.add_member(&key, "after").await {
            Ok(outcome) => {
                assert_eq!(outcome.size, 2);
                break;
            }
            Err(error) => {
                errors += 1;
                assert_eq!(error.operation, "add member");
                assert!(error.message.contains(&key), "{error}");
                assert!(Instant::now() < deadline, "no reconnect within 10 s: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    eprintln!("reconnected after {errors} failed call(s)");
    store.forget_run(&run).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_redis_fails_fast() {
    let options = RedisOptions {
        url: "redis://127.0.0.1:1".into(),
        connect_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let started = Instant::now();
    let error = RedisCoordination::connect(&options, CoordinationSettings::default())
        .await
        .err()
        .expect("nothing listens on port 1");
    assert!(matches!(error, RedisError::Unreachable { .. }), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_urls_are_config_errors_that_never_show_the_password() {
    for url in [
        "redis:/:hunter2@host",
        "redis://:hunter2@host:notaport",
        "ftp://u:hunter2@host",
    ] {
        let options = RedisOptions {
            url: url.into(),
            connect_timeout: Duration::from_secs(1),
            ..Default::default()
        };
        let error = RedisCoordination::connect(&options, CoordinationSettings::default())
            .await
            .err()
            .expect("refused");
        let message = error.to_string();
        assert!(!message.contains("hunter2"), "{url}: {message}");
        assert!(
            matches!(error, RedisError::Config { .. } | RedisError::Unreachable { .. }),
            "{url}: {message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_redis_fails_within_the_timeout_and_stops_trying() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(socket);
        }
    });
    let options = RedisOptions {
        url: format!("redis://127.0.0.1:{port}"),
        connect_timeout: Duration::from_millis(1000),
        ..Default::default()
    };
    let started = Instant::now();
    let error = RedisCoordination::connect(&options, CoordinationSettings::default())
        .await
        .err()
        .expect("a silent server is unreachable");
    let elapsed = started.elapsed();
    assert!(matches!(error, RedisError::Unreachable { .. }), "{error}");
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
    let after_failure = accepted.load(std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        later, after_failure,
        "the failed client kept reconnecting in the background"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn coordination_latency() {
    let store = default_store().await;
    let run = unique_run("latency");
    let key = keys::outstanding(&run);
    let rounds = 1000u32;
    let started = Instant::now();
    for i in 0..rounds {
        store.add_member(&key, &format!("job-{i}")).await.unwrap();
    }
    let add = started.elapsed() / rounds;
    let started = Instant::now();
    for i in 0..rounds {
        store.remove_member(&key, &format!("job-{i}")).await.unwrap();
    }
    let remove = started.elapsed() / rounds;
    let started = Instant::now();
    for i in 0..rounds {
        store
            .claim_once(&keys::job_done(&run, &format!("job-{i}")), "done")
            .await
            .unwrap();
    }
    let claim = started.elapsed() / rounds;
    eprintln!("sequential: add_member {add:?}, remove_member {remove:?}, claim_once {claim:?}");
    let started = Instant::now();
    store.forget_run(&run).await.unwrap();
    eprintln!("forget_run of a run with {rounds} keys: {:?}", started.elapsed());
    assert_eq!(store.get(&keys::job_done(&run, "job-1")).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn join_arrivals_fire_once_atomically_and_a_rehandled_firer_fires_again() {
    let store = Arc::new(default_store().await);
    let run = unique_run("join");
    let expected = 8;
    // Eight predecessors arrive at once, each delivered twice (the same job again):
    // exactly one job fires the join (its own copy may fire again: same derived id).
    let set = keys::fan_in(&run, "concurrent");
    let arrivals: Vec<_> = (0..expected * 2)
        .map(|i| {
            let (store, set, run) = (store.clone(), set.clone(), run.clone());
            tokio::spawn(async move {
                let job = format!("job-{}", i % expected);
                let fired_key = keys::join_fired_by(&run, "concurrent", &job);
                let member = format!("p{}", i % expected);
                let fired = store
                    .arrive_at_join(&set, &member, expected, &fired_key)
                    .await
                    .unwrap();
                (fired, job)
            })
        })
        .collect();
    let mut firers = std::collections::BTreeSet::new();
    for arrival in arrivals {
        let (fired, job) = arrival.await.unwrap();
        if fired {
            firers.insert(job);
        }
    }
    assert_eq!(firers.len(), 1, "one job fires the join: {firers:?}");

    // In order, on a fresh join: the last arrival fires and clears the set; that job
    // handled again (its worker died before committing) fires again and does not count
    // toward a next round.
    let set = keys::fan_in(&run, "ordered");
    let fired_by = |job: &str| keys::join_fired_by(&run, "ordered", job);
    for i in 0..expected - 1 {
        let job = format!("job-{i}");
        assert!(!store
            .arrive_at_join(&set, &format!("p{i}"), expected, &fired_by(&job))
            .await
            .unwrap());
    }
    let last = format!("job-{}", expected - 1);
    let member = format!("p{}", expected - 1);
    assert!(store
        .arrive_at_join(&set, &member, expected, &fired_by(&last))
        .await
        .unwrap());
    assert_eq!(
        store.set_size(&set).await.unwrap(),
        0,
        "the set was cleared when it fired"
    );
    assert!(store
        .arrive_at_join(&set, &member, expected, &fired_by(&last))
        .await
        .unwrap());
    assert_eq!(
        store.set_size(&set).await.unwrap(),
        0,
        "the re-handled firer is not in the next round"
    );
    assert_eq!(
        store.get(&fired_by(&last)).await.unwrap().as_deref(),
        Some("fired")
    );
    assert!(
        store.members(&set).await.unwrap().is_empty(),
        "no member field is left"
    );
    store.forget_run(&run).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_final_claim_is_won_once_and_outlives_the_run() {
    use crate::engine::traits::FinalClaim;
    let store = Arc::new(default_store().await);
    let run = unique_run("final");
    let contenders: Vec<_> = (0..16)
        .map(|i| {
            let (store, run) = (Arc::clone(&store), run.clone());
            tokio::spawn(async move {
                store
                    .claim_final(&run, &format!("job-{i}"), 1000 + i, None)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for contender in contenders {
        if contender.await.unwrap() == FinalClaim::Won {
            won += 1;
        }
    }
    assert_eq!(won, 1, "one claimant publishes the final result");
    let held = match store.claim_final(&run, "late", 5000, None).await.unwrap() {
        FinalClaim::Lost { held, at_ms } => {
            assert!((1000..1016).contains(&at_ms), "{held}");
            held
        }
        other => panic!("a late claim must lose, got {other:?}"),
    };
    let holder = held.split_once(' ').unwrap().1.to_string();
    assert_eq!(
        store.claim_final(&run, &holder, 6000, None).await.unwrap(),
        FinalClaim::Again,
        "the holder's redelivered job claims again"
    );
    store.forget_run(&run).await.unwrap();
    assert!(
        matches!(
            store.claim_final(&run, "after", 7000, None).await.unwrap(),
            FinalClaim::Lost { .. }
        ),
        "the claim outlives the run's other keys"
    );
    assert!(ttl_of(&store, &run_hash(&run)).await > 0);
    let fields: i64 = store.connection().client().hlen(run_hash(&run)).await.unwrap();
    assert_eq!(
        fields, 2,
        "only the epoch and the final claim are left of the run"
    );
    assert!(matches!(
        store
            .claim_final(&run, "taker", 8000, Some("not what is held"))
            .await
            .unwrap(),
        FinalClaim::Lost { .. }
    ));
    assert_eq!(
        store.claim_final(&run, "taker", 9000, Some(&held)).await.unwrap(),
        FinalClaim::Won,
        "a stale claim is taken over only as it was read"
    );
    assert_eq!(
        store.claim_final(&run, "taker", 9500, None).await.unwrap(),
        FinalClaim::Again
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn finishing_a_job_reserves_its_successors_once_and_releases_its_token() {
    use crate::engine::traits::{JobFinish, JobFinished};
    let store = default_store().await;
    let run = unique_run("finish");
    let outstanding = keys::outstanding(&run);
    store.add_member(&outstanding, "start").await.unwrap();
    let finish = |marker: &str| JobFinish {
        run_id: &run,
        job_id: "start",
        marker: marker.to_string(),
        successors: vec![("a".into(), "record-a".into()), ("b".into(), "record-b".into())],
        arrivals: Vec::new(),
        token: "start",
        stamp: "1234".into(),
    };
    let first = store.finish_job(finish("first")).await.unwrap();
    assert_eq!(
        first,
        JobFinished {
            claimed: true,
            drained: false,
            joins: Vec::new(),
        }
    );
    let again = store.finish_job(finish("second")).await.unwrap();
    assert_eq!(
        again,
        JobFinished {
            claimed: false,
            drained: false,
            joins: Vec::new(),
        },
        "a redelivery reserves nothing"
    );
    let mut members = store.members(&outstanding).await.unwrap();
    members.sort();
    assert_eq!(members, ["a", "b"]);
    assert_eq!(
        store.work_record(&run, "b").await.unwrap().as_deref(),
        Some("record-b")
    );
    assert_eq!(
        store.get(&keys::progress(&run)).await.unwrap().as_deref(),
        Some("1234")
    );
    let begun = store.begin_job(&run, "start").await.unwrap();
    assert_eq!(begun.done.as_deref(), Some("first"), "the first marker stands");
    assert_eq!(store.bump_epoch(&run).await.unwrap(), 1);
    assert_eq!(store.begin_job(&run, "a").await.unwrap().epoch, 1);
    let hop = |job: &'static str, next: &[&str]| JobFinish {
        run_id: &run,
        job_id: job,
        marker: format!("{job} done"),
        successors: next
            .iter()
            .map(|n| (n.to_string(), format!("record-{n}")))
            .collect(),
        arrivals: Vec::new(),
        token: job,
        stamp: "1235".into(),
    };
    let traded = store.finish_job(hop("a", &["c"])).await.unwrap();
    assert!(
        traded.claimed && !traded.drained,
        "a hop trades its token for its successor's"
    );
    assert!(!store.finish_job(hop("b", &[])).await.unwrap().drained);
    assert_eq!(store.set_size(&outstanding).await.unwrap(), 1);
    assert!(
        store.finish_job(hop("c", &[])).await.unwrap().drained,
        "the last token drains the run"
    );
    assert_eq!(store.set_size(&outstanding).await.unwrap(), 0);
    store.forget_run(&run).await.unwrap();
    let after = store.begin_job(&run, "start").await.unwrap();
    assert_eq!(
        (after.done, after.epoch),
        (None, 2),
        "the epoch outlives the run, bumped by forgetting it"
    );
    store.connection().delete(&run_hash(&run)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn reserving_jobs_records_them_counts_new_tokens_once_and_stamps_progress() {
    let store = default_store().await;
    let run = unique_run("reserve");
    let outstanding = keys::outstanding(&run);
    let jobs = || {
        vec![
            ("a".to_string(), "record-a".to_string()),
            ("b".to_string(), "record-b".to_string()),
        ]
    };
    store.reserve_jobs(&run, jobs(), "77".into()).await.unwrap();
    store.reserve_jobs(&run, jobs(), "78".into()).await.unwrap();
    assert_eq!(
        store.set_size(&outstanding).await.unwrap(),
        2,
        "a token reserved again counts once"
    );
    assert_eq!(
        store.work_record(&run, "a").await.unwrap().as_deref(),
        Some("record-a")
    );
    assert_eq!(
        store.get(&keys::progress(&run)).await.unwrap().as_deref(),
        Some("78")
    );
    let ttl: i64 = store.connection().client().ttl(run_hash(&run)).await.unwrap();
    assert!(ttl > 0, "the run's hash has a TTL");
    // What a job finds reserved under its id, in the same read as its done marker.
    let reservation = |job: &'static str| {
        let store = &store;
        let run = &run;
        async move { store.begin_job(run, job).await.unwrap().reservation }
    };
    assert_eq!(reservation("a").await, Reservation::Record("record-a".into()));
    store.add_member(&outstanding, "bare").await.unwrap();
    assert_eq!(reservation("bare").await, Reservation::Token);
    assert_eq!(reservation("never").await, Reservation::Absent);
    assert_eq!(store.remove_member(&outstanding, "a").await.unwrap(), 2);
    assert_eq!(reservation("a").await, Reservation::Absent);
    store.connection().delete(&run_hash(&run)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn hops_renew_the_runs_ttl_and_progress_once_per_interval_and_a_new_hash_always() {
    use crate::engine::traits::JobFinish;
    let store = store_with_ttl(Duration::from_secs(20)).await;
    let run = unique_run("renewals");
    let hop = |job: &'static str, next: &'static str, stamp: &str| JobFinish {
        run_id: &run,
        job_id: job,
        marker: format!("{job} done"),
        successors: vec![(next.to_string(), format!("record-{next}"))],
        arrivals: Vec::new(),
        token: job,
        stamp: stamp.to_string(),
    };
    store
        .reserve_jobs(&run, vec![("a".into(), "record-a".into())], "1".into())
        .await
        .unwrap();
    store.finish_job(hop("a", "b", "2")).await.unwrap();
    let client = store.connection().client();
    let _: () = client.expire(run_hash(&run), 10, None).await.unwrap();
    store.finish_job(hop("b", "c", "3")).await.unwrap();
    assert!(
        ttl_of(&store, &run_hash(&run)).await <= 10,
        "renewed less than an interval ago"
    );
    let progress = store.get(&keys::progress(&run)).await.unwrap();
    assert_eq!(progress.as_deref(), Some("2"));
    tokio::time::sleep(super::renewals::RENEW_EVERY).await;
    store.finish_job(hop("c", "d", "4")).await.unwrap();
    assert!(
        ttl_of(&store, &run_hash(&run)).await >= 19,
        "renewed once the interval passed"
    );
    let progress = store.get(&keys::progress(&run)).await.unwrap();
    assert_eq!(progress.as_deref(), Some("4"));
    // The hash vanished (expired, flushed): a hop that does not find its own token renews.
    store.connection().delete(&run_hash(&run)).await.unwrap();
    store.finish_job(hop("d", "e", "5")).await.unwrap();
    assert!(
        ttl_of(&store, &run_hash(&run)).await >= 19,
        "a hash the hop created has a TTL"
    );
    let progress = store.get(&keys::progress(&run)).await.unwrap();
    assert_eq!(progress.as_deref(), Some("5"));
    assert_eq!(
        store.work_record(&run, "e").await.unwrap().as_deref(),
        Some("record-e")
    );
    store.connection().delete(&run_hash(&run)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_without_a_record_has_none_and_an_older_stores_record_is_still_read() {
    let store = default_store().await;
    let run = unique_run("records");
    store.add_member(&keys::outstanding(&run), "child").await.unwrap();
    assert_eq!(store.work_record(&run, "child").await.unwrap(), None);
    store
        .put(&keys::work(&run, "child"), "record-in-its-own-field")
        .await
        .unwrap();
    assert_eq!(
        store.work_record(&run, "child").await.unwrap().as_deref(),
        Some("record-in-its-own-field")
    );
    store.connection().delete(&run_hash(&run)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_finish_arrives_at_joins_once_and_reserves_the_join_job_of_the_arrival_that_fires() {
    use crate::engine::traits::{JobFinish, JoinArrival, JoinOutcome};
    let store = default_store().await;
    let run = unique_run("join-finish");
    let outstanding = keys::outstanding(&run);
    let branches = vec![
        ("left".to_string(), "r".to_string()),
        ("right".to_string(), "r".to_string()),
    ];
    store.reserve_jobs(&run, branches, "1".into()).await.unwrap();
    let branch = |job: &'static str| JobFinish {
        run_id: &run,
        job_id: job,
        marker: format!("{job} done"),
        successors: Vec::new(),
        arrivals: vec![JoinArrival {
            key: keys::fan_in(&run, "join"),
            member: job.to_string(),
            job_id: format!("{job}-job"),
            expected: 2,
            job: (format!("join-after-{job}"), format!("record-join-after-{job}")),
        }],
        token: job,
        stamp: "2".into(),
    };
    let left = store.finish_job(branch("left")).await.unwrap();
    assert_eq!((left.claimed, left.drained), (true, false));
    assert_eq!(left.joins, [JoinOutcome::Waiting]);
    let again = store.finish_job(branch("left")).await.unwrap();
    assert_eq!(
        (again.claimed, again.joins),
        (false, vec![JoinOutcome::Waiting]),
        "a redelivery arrives no more"
    );
    let right = store.finish_job(branch("right")).await.unwrap();
    assert_eq!((right.claimed, right.drained), (true, false));
    let JoinOutcome::Fired {
        arrived: Some(mut arrived),
    } = right.joins[0].clone()
    else {
        panic!(
            "the second arrival fires the join and says who arrived: {:?}",
            right.joins
        );
    };
    arrived.sort();
    assert_eq!(arrived, ["left-job", "right-job"]);
    assert_eq!(store.members(&outstanding).await.unwrap(), ["join-after-right"]);
    assert_eq!(
        store
            .work_record(&run, "join-after-right")
            .await
            .unwrap()
            .as_deref(),
        Some("record-join-after-right")
    );
    assert_eq!(
        store.set_size(&keys::fan_in(&run, "join")).await.unwrap(),
        0,
        "a fired join starts its next round empty"
    );
    store.connection().delete(&run_hash(&run)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_start_reserves_its_jobs_and_bumps_the_epoch_in_one_step() {
    let store = default_store().await;
    let run = unique_run("start");
    let jobs = vec![("start".to_string(), "record-start".to_string())];
    assert_eq!(
        store
            .reserve_jobs_bumping_epoch(&run, jobs.clone(), "5".into())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .reserve_jobs_bumping_epoch(&run, jobs, "6".into())
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.set_size(&keys::outstanding(&run)).await.unwrap(), 1);
    assert_eq!(store.begin_job(&run, "start").await.unwrap().epoch, 2);
    assert_eq!(
        store.work_record(&run, "start").await.unwrap().as_deref(),
        Some("record-start")
    );
    store.connection().delete(&run_hash(&run)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn forgetting_run_x_leaves_run_x_colon_b_alone() {
    let store = default_store().await;
    let x = unique_run("x");
    let xb = format!("{x}:b");
    store.add_member(&keys::fan_in(&xb, "join"), "a").await.unwrap();
    store
        .add_member(&keys::fan_in(&x, "b:join"), "other")
        .await
        .unwrap();
    store.forget_run(&x).await.unwrap();
    assert_eq!(store.members(&keys::fan_in(&xb, "join")).await.unwrap(), ["a"]);
    assert_eq!(store.set_size(&keys::fan_in(&x, "b:join")).await.unwrap(), 0);
    store.forget_run(&xb).await.unwrap();
    for run in [&x, &xb] {
        store.connection().delete(&run_hash(run)).await.unwrap();
    }
}
