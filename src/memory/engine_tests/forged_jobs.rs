//! Jobs its run does not expect (`lifecycle::admission`): forged, stray, early or in the
//! reference format for a run no client seeded. Each is refused or put back, and no run
//! changes.

use std::sync::Arc;

use serde_json::json;

use super::{blueprint, starts};
use crate::engine::completion::WorkRecord;
use crate::engine::job::{Job, JobPhase};
use crate::engine::keys;
use crate::engine::traits::{
    ContextOp, ContextStore, CoordinationStore, JobDisposition, JobTransport, WriteStamp,
};
use crate::engine::{Engine, EngineConfig, StartOptions};
use crate::memory::conformance::registry::TestRegistry;
use crate::memory::MemoryBackend;

/// nap (a 60 s sleep) -> after; handled by hand (no worker loop).
fn napping() -> (Engine, MemoryBackend) {
    let backend = MemoryBackend::new();
    let nap = json!({
        "id": "nap",
        "nodes": [
            {"id": "nap", "uses": "sleep", "params": {"duration": 60_000}},
            {"id": "after", "uses": "emit", "params": {"value": 1}}
        ],
        "edges": [{"source": "nap", "target": "after"}]
    });
    let engine = Engine::new(
        vec![blueprint(nap)],
        Arc::new(TestRegistry::default()),
        backend.backends(),
        EngineConfig::sequential(),
    )
    .unwrap();
    (engine, backend)
}

fn refused(disposition: JobDisposition) -> String {
    match disposition {
        JobDisposition::Reject { reason } => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn forged_jobs_for_a_sleeping_run_change_nothing() {
    let (engine, backend) = napping();
    let run_id = engine
        .start_run("nap", Default::default(), StartOptions::default())
        .await
        .unwrap();
    let start = backend.queue.receive(10).await.unwrap().remove(0).job;
    assert_eq!(engine.handle_job(start).await.unwrap(), JobDisposition::Done);
    // The run now sleeps: its one outstanding token is the wake-up's.
    let coordination: &dyn CoordinationStore = backend.coordination.as_ref();
    let tokens = coordination.members(&keys::outstanding(&run_id)).await.unwrap();
    assert_eq!(tokens.len(), 1);
    let record = coordination
        .work_record(&run_id, &tokens[0])
        .await
        .unwrap()
        .unwrap();
    let wake = serde_json::from_str::<WorkRecord>(&record).unwrap().job;
    assert_eq!(wake.phase, JobPhase::Wake);

    // The node after the sleep, under a made-up id: nothing reserved it.
    let guessed = Job::new(&run_id, "nap", "after");
    let reason = refused(engine.handle_job(guessed).await.unwrap());
    assert!(
        reason.contains("no job of the run is outstanding under its id"),
        "{reason}"
    );
    assert!(reason.contains(&run_id), "{reason}");
    // The wake-up's id, but another node, or retries skipped.
    let mut other_node = wake.clone();
    other_node.node_id = "after".into();
    other_node.phase = JobPhase::Execute;
    let reason = refused(engine.handle_job(other_node).await.unwrap());
    assert!(reason.contains("another node"), "{reason}");
    let mut skipped = wake.clone();
    skipped.attempt = Some(3);
    assert!(refused(engine.handle_job(skipped).await.unwrap()).contains("another attempt"));
    // The wake-up itself, 60 s early: back to the timer, the sleep is not cut short.
    assert_eq!(engine.handle_job(wake).await.unwrap(), JobDisposition::Done);

    assert!(engine.published_results(&run_id).await.unwrap().is_empty());
    let context = backend.context.load(&run_id).await.unwrap();
    assert!(!context.contains_key("_outputs.after"), "{context:?}");
    let still = coordination.members(&keys::outstanding(&run_id)).await.unwrap();
    assert_eq!(still, tokens);
}

#[tokio::test]
async fn a_job_for_a_run_that_never_existed_creates_nothing() {
    let (engine, backend) = napping();
    let mut reference = Job::new("never-started", "nap", "nap");
    reference.reference_format = true;
    let engine_format = Job::new("never-started", "nap", "nap");
    for job in [reference, engine_format] {
        refused(engine.handle_job(job).await.unwrap());
    }
    assert!(engine
        .published_results("never-started")
        .await
        .unwrap()
        .is_empty());
    assert!(backend.context.load("never-started").await.unwrap().is_empty());
    assert_eq!(backend.queue.outstanding(), 0);
    // Naming an unknown blueprint fails no run either.
    let mut unknown = Job::new("never-started", "no-such-flow", "a");
    unknown.reference_format = true;
    let reason = refused(engine.handle_job(unknown).await.unwrap());
    assert!(reason.contains("no-such-flow"), "{reason}");
    assert!(engine
        .published_results("never-started")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_reference_client_starts_each_start_node_once() {
    let (engine, backend) = napping();
    // What a reference client writes: the context with the blueprint, then the job.
    let seed = vec![ContextOp::set("blueprintId", json!("nap"))];
    let context: &dyn ContextStore = backend.context.as_ref();
    context.apply("ref-run", seed, WriteStamp::next()).await.unwrap();
    let reference = |node: &str, blueprint: &str| {
        let mut job = Job::new("ref-run", blueprint, node);
        job.reference_format = true;
        job
    };
    // Not a start node, or another blueprint than the client seeded: refused.
    let reason = refused(engine.handle_job(reference("after", "nap")).await.unwrap());
    assert!(reason.contains("only starts a start node"), "{reason}");
    let reason = refused(engine.handle_job(reference("a", "other")).await.unwrap());
    assert!(reason.contains("no client seeded"), "{reason}");

    let first = reference("nap", "nap");
    assert_eq!(
        engine.handle_job(first.clone()).await.unwrap(),
        JobDisposition::Done
    );
    // The run sleeps. A redelivery of that message is a no-op; another message
    // starting the node again is refused.
    assert_eq!(engine.handle_job(first).await.unwrap(), JobDisposition::Done);
    let reason = refused(engine.handle_job(reference("nap", "nap")).await.unwrap());
    assert!(reason.contains("another message started that node"), "{reason}");
    assert_eq!(starts(&backend, "ref-run", "nap"), 1);
    // The wake-up was reserved as for any run: the sleep is the run's only work.
    let coordination: &dyn CoordinationStore = backend.coordination.as_ref();
    let tokens = coordination.members(&keys::outstanding("ref-run")).await.unwrap();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert!(engine.published_results("ref-run").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_reference_job_for_a_run_the_engine_started_is_refused() {
    let (engine, backend) = napping();
    let run_id = engine
        .start_run("nap", Default::default(), StartOptions::default())
        .await
        .unwrap();
    let mut reference = Job::new(&run_id, "nap", "nap");
    reference.reference_format = true;
    let reason = refused(engine.handle_job(reference).await.unwrap());
    assert!(reason.contains("started by the engine"), "{reason}");
    // Its real start job runs as usual.
    let start = backend.queue.receive(10).await.unwrap().remove(0).job;
    assert_eq!(engine.handle_job(start).await.unwrap(), JobDisposition::Done);
    assert_eq!(starts(&backend, &run_id, "nap"), 1);
}
