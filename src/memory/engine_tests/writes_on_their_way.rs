//! The owner's copy of a run is read from the store again when it is gone (evicted,
//! forgotten); a read made while one of the owner's writes is still on its way must not
//! become the copy without that write (`engine::run_state::traffic`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::Notify;

use super::run_state::OwnedQueue;
use super::{blueprint, settle_down};
use crate::engine::run::{RunStatus, StartOptions};
use crate::engine::traits::{BackendResult, BoxFuture, ContextOp, ContextStore, WriteStamp};
use crate::engine::{Engine, EngineConfig};
use crate::memory::conformance::registry::TestRegistry;
use crate::memory::MemoryBackend;

/// The memory context store, where a write of `slow_key` takes `delay` to land and says
/// when it starts.
struct SlowKey {
    inner: Arc<dyn ContextStore>,
    slow_key: &'static str,
    delay: Duration,
    started: Arc<Notify>,
}

impl ContextStore for SlowKey {
    fn load<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<Map<String, Value>>> {
        self.inner.load(run_id)
    }
    fn apply<'a>(
        &'a self,
        run_id: &'a str,
        ops: Vec<ContextOp>,
        stamp: WriteStamp,
    ) -> BoxFuture<'a, BackendResult<()>> {
        let slow = ops
            .iter()
            .any(|op| matches!(op, ContextOp::Set { key, .. } if key == self.slow_key));
        Box::pin(async move {
            if slow {
                self.started.notify_one();
                tokio::time::sleep(self.delay).await;
            }
            self.inner.apply(run_id, ops, stamp).await
        })
    }
    fn get<'a>(&'a self, run_id: &'a str, key: &'a str) -> BoxFuture<'a, BackendResult<Option<Value>>> {
        self.inner.get(run_id, key)
    }
}

#[tokio::test]
async fn a_copy_read_again_while_a_write_is_on_its_way_keeps_that_write() {
    // `fast` finishes at once and its output takes 150 ms to land; meanwhile its copy is
    // dropped, and `after` begins (reading the run again) before the output has landed.
    let flow = json!({
        "id": "race",
        "nodes": [
            {"id": "split", "uses": "emit", "params": {"value": 0}},
            {"id": "fast", "uses": "emit", "params": {"value": "fast"}},
            {"id": "lead", "uses": "slow", "params": {"ms": 30, "value": "lead"}},
            {"id": "after", "uses": "emit", "params": {"value": "after"}},
            {"id": "join", "uses": "readKeys", "params": {"keys": ["_outputs.fast", "_outputs.after"]}}
        ],
        "edges": [
            {"source": "split", "target": "fast"},
            {"source": "split", "target": "lead"},
            {"source": "lead", "target": "after"},
            {"source": "fast", "target": "join"},
            {"source": "after", "target": "join"}
        ]
    });
    let backend = MemoryBackend::new();
    let started = Arc::new(Notify::new());
    let mut owning = backend.backends();
    owning.transport = Arc::new(OwnedQueue(backend.queue.clone()));
    owning.context = Arc::new(SlowKey {
        inner: owning.context.clone(),
        slow_key: "_outputs.fast",
        delay: Duration::from_millis(150),
        started: started.clone(),
    });
    let build = |backends| {
        Engine::new(
            vec![blueprint(flow.clone())],
            Arc::new(TestRegistry::default()),
            backends,
            EngineConfig::default(),
        )
        .expect("valid blueprint")
    };
    let worker = build(owning);
    let client = build(backend.backends());
    let run_id = client
        .start_run("race", Map::new(), StartOptions::default())
        .await
        .unwrap();
    worker.start().expect("worker starts");
    let evicted = async {
        started.notified().await;
        worker.core().run_state.forget(&run_id);
    };
    let (done, ()) = tokio::join!(
        client.wait_for_run(&run_id, Some(Duration::from_secs(5))),
        evicted
    );
    let done = done.unwrap();
    settle_down(&worker, &backend).await;
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.reason);
    assert_eq!(
        done.context["_outputs.join"],
        json!({"_outputs.fast": "fast", "_outputs.after": "after"}),
        "the join saw every output that arrived"
    );
    assert_eq!(done.context["_outputs.fast"], json!("fast"));
    worker.stop().await;
}
