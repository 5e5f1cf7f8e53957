//! Admission: a job is handled only when its run expects it. Every job the engine
//! publishes is reserved first, under its id, in its run's outstanding set, with the job
//! itself as the record (`completion::work_record`). A message is admitted only when the
//! record under its id is that very job: same run, blueprint and node, same attempt and
//! phase, the same dynamic definition. Anything else (a forged or stray message, a
//! guessed id, a retry's attempt skipped ahead, a node after a `wait` before the
//! resume) is refused: it goes to the error topic and no run is changed.
//!
//! A message in the reference adapter's format carries no id the engine made, so it
//! can never be reserved: it is admitted once per start node of a run that a client
//! seeded with that blueprint and that the engine did not start (`reference_start`).

use serde_json::Value;

use crate::engine::completion::WorkRecord;
use crate::engine::job::{Job, JobPhase};
use crate::engine::keys;
use crate::engine::lifecycle::start::BLUEPRINT_ID;
use crate::engine::shared::EngineCore;
use crate::engine::traits::{BackendResult, Reservation};

/// How much earlier than its due time a timer's job may arrive (clocks of the timer
/// service and the worker differ a little); earlier ones go back to the timer.
pub const EARLY_TOLERANCE_MS: u64 = 1_000;

/// What the run's reservation says about a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// The run expects this job. `seed_allowed`: the context the job carries is the one
    /// its client published (the record says so), so it may be used.
    Expected { seed_allowed: bool },
    /// The job the run expects, but due at `at_ms`, well after now.
    Early { at_ms: u64 },
    /// Nothing outstanding under its id: a late copy (its run finished and forgot it),
    /// a reference-format start, or a stray message (the caller tells which).
    Unreserved,
    /// Outstanding under its id is another job: refused.
    Refused { reason: String },
}

/// Compares `job` with what its run reserved under its id.
pub fn judge(job: &Job, reservation: &Reservation, now_ms: u64) -> Admission {
    match reservation {
        Reservation::Absent => Admission::Unreserved,
        // Bare tokens stand for a subflow's wake (published by the child's finish) and a
        // resume's hold (never published): only a plain wake may come under one.
        Reservation::Token => {
            let plain_wake = job.phase == JobPhase::Wake
                && job.dynamic.is_none()
                && job.first_attempt() == 1
                && job.seed.is_none();
            if plain_wake {
                Admission::Expected { seed_allowed: false }
            } else {
                refused(job, "its id stands for a wake-up, and this is not one")
            }
        }
        Reservation::Record(text) => match serde_json::from_str::<WorkRecord>(text) {
            Ok(record) => compare(job, &record, now_ms),
            Err(_) => refused(job, "the record kept under its id is unreadable"),
        },
    }
}

fn compare(job: &Job, record: &WorkRecord, now_ms: u64) -> Admission {
    let expected = &record.job;
    let differs = [
        (job.run_id != expected.run_id, "run"),
        (job.blueprint_id != expected.blueprint_id, "blueprint"),
        (job.node_id != expected.node_id, "node"),
        (job.first_attempt() != expected.first_attempt(), "attempt"),
        (job.phase != expected.phase, "phase"),
        (job.dynamic != expected.dynamic, "dynamic node"),
    ]
    .into_iter()
    .find_map(|(differs, field)| differs.then_some(field));
    if let Some(field) = differs {
        return refused(job, &format!("the job reserved under its id has another {field}"));
    }
    let seed_allowed = match (&job.seed, &expected.seed) {
        (None, _) => false,
        (Some(_), None) if record.seeded => true,
        (Some(seed), Some(reserved)) => seed == reserved,
        (Some(_), None) => {
            return refused(job, "it carries a context its run's client did not publish");
        }
    };
    if let Some(at_ms) = record.at_ms.filter(|at| *at > now_ms + EARLY_TOLERANCE_MS) {
        return Admission::Early { at_ms };
    }
    Admission::Expected { seed_allowed }
}

fn refused(job: &Job, why: &str) -> Admission {
    Admission::Refused {
        reason: refusal(job, why),
    }
}

/// The reason a job is refused, naming it and its run.
pub fn refusal(job: &Job, why: &str) -> String {
    format!(
        "Job '{}' for node '{}' of blueprint '{}' in run {} is not one its run expects: {why}.",
        job.job_id, job.node_id, job.blueprint_id, job.run_id
    )
}

/// A reference-format job (`{runId, blueprintId, nodeId}`): admitted as the start of a
/// start node of a run a reference client seeded (its context names the blueprint, and
/// the engine did not start it), once per node: the first message for a node claims it,
/// and only a redelivery of that message is admitted again. Ok(None) = admitted (its id
/// is then reserved, so the run stays open while it runs); Ok(Some(reason)) = refused.
pub async fn reference_start(core: &EngineCore, job: &Job) -> BackendResult<Option<String>> {
    let run_id = job.run_id.as_str();
    let plain = job.phase == JobPhase::Execute && job.dynamic.is_none() && job.first_attempt() == 1;
    if !plain || job.seed.is_some() {
        return Ok(Some(refusal(
            job,
            "a reference-format job only ever starts a node",
        )));
    }
    if let Some(plan) = core.plan(&job.blueprint_id) {
        if !plan.start_nodes.contains(&job.node_id) {
            let why = "a reference-format job only starts a start node of its blueprint";
            return Ok(Some(refusal(job, why)));
        }
    }
    let coordination = &core.backends.coordination;
    let (reference_key, progress_key) = (keys::reference_run(run_id), keys::progress(run_id));
    let (context, reference, progress) = futures::join!(
        core.backends.context.load(run_id),
        coordination.get(&reference_key),
        coordination.get(&progress_key)
    );
    let seeded_with = context?
        .get(BLUEPRINT_ID)
        .and_then(Value::as_str)
        .map(str::to_string);
    if seeded_with.as_deref() != Some(job.blueprint_id.as_str()) {
        let why = "no client seeded a run of that blueprint under its run id";
        return Ok(Some(refusal(job, why)));
    }
    if reference?.is_none() && progress?.is_some() {
        let why = "the run was started by the engine, not by a reference client";
        return Ok(Some(refusal(job, why)));
    }
    coordination.claim_once(&reference_key, "1").await?;
    let node_key = keys::reference_start(run_id, &job.node_id);
    let claimed = coordination.claim_once(&node_key, &job.job_id).await?;
    if !claimed && coordination.get(&node_key).await?.as_deref() != Some(job.job_id.as_str()) {
        let why = "another message started that node of the run already";
        return Ok(Some(refusal(job, why)));
    }
    coordination
        .add_member(&keys::outstanding(run_id), &job.job_id)
        .await?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::completion::{seeded_work_record, work_record};
    use crate::engine::job::{DynamicNode, RunSeed};

    fn job() -> Job {
        let mut job = Job::new("run-1", "bp", "a");
        job.job_id = "j1".into();
        job
    }

    fn reserved(job: &Job, at_ms: Option<u64>) -> Reservation {
        Reservation::Record(work_record(job, at_ms))
    }

    #[test]
    fn the_reserved_job_is_expected() {
        let job = job();
        assert_eq!(
            judge(&job, &reserved(&job, None), 10),
            Admission::Expected { seed_allowed: false }
        );
        assert_eq!(judge(&job, &Reservation::Absent, 10), Admission::Unreserved);
    }

    #[test]
    fn any_difference_from_the_reservation_is_refused() {
        let real = job();
        let record = reserved(&real, None);
        let mut other_node = real.clone();
        other_node.node_id = "b".into();
        let mut skipped_retries = real.clone();
        skipped_retries.attempt = Some(3);
        let mut woken = real.clone();
        woken.phase = JobPhase::Wake;
        let mut dynamic = real.clone();
        dynamic.dynamic = Some(DynamicNode {
            uses: "anything".into(),
            input_key: "secret".into(),
            scatter_node_id: "s".into(),
            gather_node_id: "g".into(),
            batch_id: "b".into(),
            index: 0,
            total: 1,
            chunk_size: 1,
        });
        let mut other_run = real.clone();
        other_run.run_id = "run-2".into();
        for (forged, field) in [
            (other_node, "node"),
            (skipped_retries, "attempt"),
            (woken, "phase"),
            (dynamic, "dynamic node"),
            (other_run, "run"),
        ] {
            match judge(&forged, &record, 10) {
                Admission::Refused { reason } => {
                    assert!(reason.contains(&format!("another {field}")), "{reason}");
                    assert!(reason.contains("in run "), "{reason}");
                }
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_seed_is_used_only_when_its_client_published_it() {
        let mut start = job();
        start.seed = Some(RunSeed {
            epoch: 1,
            context: serde_json::Map::new(),
        });
        let mut unseeded = start.clone();
        unseeded.seed = None;
        assert_eq!(
            judge(&start, &Reservation::Record(seeded_work_record(&unseeded)), 0),
            Admission::Expected { seed_allowed: true }
        );
        assert!(matches!(
            judge(&start, &reserved(&unseeded, None), 0),
            Admission::Refused { .. }
        ));
        // A scheduled start keeps its seed in the record: it must be the same one.
        assert_eq!(
            judge(&start, &reserved(&start, Some(5)), 10),
            Admission::Expected { seed_allowed: true }
        );
        let mut forged = start.clone();
        forged.seed.as_mut().unwrap().context.insert("x".into(), 1.into());
        assert_eq!(
            judge(&forged, &reserved(&start, Some(5)), 10),
            Admission::Expected { seed_allowed: false }
        );
    }

    #[test]
    fn a_timer_job_well_before_its_time_goes_back() {
        let job = job();
        let record = reserved(&job, Some(60_000));
        assert_eq!(judge(&job, &record, 1_000), Admission::Early { at_ms: 60_000 });
        assert_eq!(
            judge(&job, &record, 60_000 - EARLY_TOLERANCE_MS),
            Admission::Expected { seed_allowed: false }
        );
    }

    #[test]
    fn a_bare_token_admits_only_a_plain_wake() {
        let mut wake = job();
        wake.phase = JobPhase::Wake;
        assert_eq!(
            judge(&wake, &Reservation::Token, 0),
            Admission::Expected { seed_allowed: false }
        );
        assert!(matches!(
            judge(&job(), &Reservation::Token, 0),
            Admission::Refused { .. }
        ));
        assert!(matches!(
            judge(&job(), &Reservation::Record("{".into()), 0),
            Admission::Refused { .. }
        ));
    }
}
