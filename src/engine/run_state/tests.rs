//! The run cache, its write traffic and task ownership.

use super::*;
use serde_json::json;

const AT: Freshness = Freshness {
    generation: 1,
    epoch: 0,
};

fn snapshot(pairs: &[(&str, Value)]) -> RunSnapshot {
    let context = pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    RunSnapshot {
        context: Arc::new(context),
        is_final: false,
    }
}

#[test]
fn a_copy_serves_only_under_the_conditions_it_was_read_under() {
    let cache = RunStateCache::new(10);
    cache.store("r", AT, snapshot(&[("a", json!(1))]));
    assert!(cache.lookup("r", AT).is_some());
    let bumped = Freshness { epoch: 1, ..AT };
    let moved = Freshness { generation: 2, ..AT };
    assert!(
        cache.lookup("r", bumped).is_none(),
        "another writer bumped the epoch"
    );
    assert!(cache.lookup("r", moved).is_none(), "a rebalance happened");
}

#[test]
fn a_late_read_does_not_replace_a_copy_that_holds_newer_writes() {
    let cache = RunStateCache::new(10);
    cache.store("r", AT, snapshot(&[]));
    cache.apply("r", &[ContextOp::set("x", json!(2))]);
    let standing = cache.store("r", AT, snapshot(&[]));
    assert_eq!(standing.context.get("x"), Some(&json!(2)));
    let newer = Freshness { epoch: 3, ..AT };
    let replaced = cache.store("r", newer, snapshot(&[("y", json!(1))]));
    assert!(replaced.context.get("x").is_none());
    assert_eq!(
        cache.lookup("r", newer).unwrap().context.get("y"),
        Some(&json!(1))
    );
}

#[test]
fn writes_apply_to_the_copy_and_final_runs_drop_their_context() {
    let cache = RunStateCache::new(10);
    let before = cache.store("r", AT, snapshot(&[("a", json!(1))]));
    cache.apply("r", &[ContextOp::set("b", json!(2)), ContextOp::delete("a")]);
    let after = cache.lookup("r", AT).unwrap();
    assert_eq!(after.context.get("b"), Some(&json!(2)));
    assert!(after.context.get("a").is_none());
    assert_eq!(
        before.context.get("a"),
        Some(&json!(1)),
        "a job's snapshot never changes under it"
    );
    cache.mark_final("r");
    let done = cache.lookup("r", AT).unwrap();
    assert!(done.is_final && done.context.is_empty());
}

#[test]
fn memory_is_bounded_oldest_first() {
    let cache = RunStateCache::new(3);
    for id in ["a", "b", "c", "d"] {
        cache.store(id, AT, snapshot(&[]));
    }
    assert_eq!(cache.len(), 3);
    assert!(cache.lookup("a", AT).is_none());
    assert!(cache.lookup("d", AT).is_some());
    for round in 0..100 {
        let id = format!("x{round}");
        cache.store(&id, AT, snapshot(&[]));
        cache.forget(&id);
    }
    assert!(cache.lock().order.len() <= 6);
}

#[test]
fn a_read_is_kept_only_if_no_write_of_the_run_was_on_its_way() {
    let cache = RunStateCache::new(10);
    let ReadStart::Ready(read) = cache.read("r") else {
        panic!("nothing is being written");
    };
    let writing = cache.write("r", &[ContextOp::set("x", json!(1))]);
    assert!(
        cache.keep(&read, AT, snapshot(&[])).is_none(),
        "the read may have missed the write"
    );
    drop(read);
    assert!(
        matches!(cache.read("r"), ReadStart::Wait(_)),
        "a write is on its way"
    );
    writing.landed();
    let ReadStart::Ready(read) = cache.read("r") else {
        panic!("the write has landed");
    };
    let kept = cache.keep(&read, AT, snapshot(&[("x", json!(1))])).unwrap();
    assert_eq!(kept.context.get("x"), Some(&json!(1)));
    drop(read);
    assert_eq!(cache.lock().traffic.tracked(), 0, "idle runs are not tracked");
}

#[test]
fn a_write_that_fails_or_replays_drops_the_copy() {
    let cache = RunStateCache::new(10);
    cache.store("r", AT, snapshot(&[]));
    drop(cache.write("r", &[ContextOp::set("x", json!(1))]));
    assert!(cache.lookup("r", AT).is_none(), "the copy was ahead of the store");
    cache.store("r", AT, snapshot(&[]));
    cache.overwrite("r").landed();
    assert!(
        cache.lookup("r", AT).is_none(),
        "replayed writes may be overruled"
    );
    assert_eq!(cache.lock().traffic.tracked(), 0);
}

#[tokio::test]
async fn a_waiting_read_wakes_when_the_last_write_lands() {
    let cache = Arc::new(RunStateCache::new(10));
    let first = cache.write("r", &[]);
    let second = cache.write("r", &[]);
    let ReadStart::Wait(mut writing) = cache.read("r") else {
        panic!("writes are on their way");
    };
    first.landed();
    assert_eq!(*writing.borrow_and_update(), 1);
    let waited = tokio::spawn(async move { writing.wait_for(|n| *n == 0).await.is_ok() });
    second.landed();
    let woke = tokio::time::timeout(std::time::Duration::from_secs(1), waited).await;
    assert!(woke.is_ok(), "the reader is woken");
}

#[tokio::test]
async fn ownership_is_per_task_and_per_run() {
    assert!(!owns("r"));
    owning("r", "j", Some(1), async {
        assert!(owns("r"));
        assert!(!owns("other"));
        assert_eq!(handled_job().as_deref(), Some("j"));
        // The owner's copy is only for the assignment the handling began under.
        assert!(owns_under("r", Some(1)));
        assert!(!owns_under("r", Some(2)), "a rebalance since it began");
        assert!(!owns_under("r", None), "no owning transport");
        assert!(!owns_under("other", Some(1)));
    })
    .await;
}
