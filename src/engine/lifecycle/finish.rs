//! How a job's handling ends: one atomic step marks it done, reserves its successors,
//! makes its arrivals at joins (reserving a join's job when it fires) and releases its
//! token (claiming its result too, for a `claims_with_marker` node), then the
//! claimed context writes are stored and the successors published; and what a job found
//! done when it began does to finish what its first handling may have left undone.

use crate::engine::analysis::BlueprintPlan;
use crate::engine::completion::{fail_run, publish, release, settle, work_record};
use crate::engine::error::EngineError;
use crate::engine::job::Job;
use crate::engine::keys;
use crate::engine::lifecycle::accept;
use crate::engine::lifecycle::arrival_writes::Known;
use crate::engine::lifecycle::origin;
use crate::engine::limits::shown_run_id;
use crate::engine::run::RunFailure;
use crate::engine::run_io;
use crate::engine::shared::EngineCore;
use crate::engine::step::Completion;
use crate::engine::traits::{
    BackendError, ContextOp, JobDisposition, JobFinish, JoinArrival, JoinOutcome, WriteStamp,
};
use serde_json::json;

/// A completion not claimed yet (a `claims_with_marker` node's) and the context writes it
/// makes: claimed together with the job's done marker, written after it.
pub struct ClaimedResult {
    pub completion: Completion,
    pub ops: Vec<ContextOp>,
}

/// A job found done when it began (a redelivery, or a duplicate message). The writes
/// its marker claimed are written again: the handling that claimed them may have died
/// before it wrote them, and their stamp keeps any newer write of the same keys.
pub async fn redelivered_done(
    core: &EngineCore,
    plan: &BlueprintPlan,
    job: &Job,
    marker: &str,
) -> Result<JobDisposition, EngineError> {
    let run_id = job.run_id.as_str();
    let backend = EngineError::backend_at(run_id, &job.node_id);
    let mut marker: origin::DoneMarker = serde_json::from_str(marker).unwrap_or_default();
    if let Some(writes) = marker.writes.take() {
        run_io::replay_writes(core, run_id, writes.ops, writes.stamp)
            .await
            .map_err(&backend)?;
    }
    republish_outstanding(core, plan, run_id, marker).await?;
    // The earlier handling may have died between its done marker and releasing its
    // token; the token still outstanding says so, and would hold the run open forever.
    let coordination = &core.backends.coordination;
    let outstanding = keys::outstanding(run_id);
    let unreleased = coordination
        .has_member(&outstanding, &job.job_id)
        .await
        .map_err(&backend)?;
    if unreleased {
        release(core, run_id, plan.id(), &job.job_id).await?;
    } else if coordination.set_size(&outstanding).await.map_err(&backend)? == 0 {
        // Or between its done marker, which released the last token, and settling.
        settle(core, run_id, plan.id()).await?;
    }
    Ok(JobDisposition::Done)
}

/// One atomic step: the done marker (with `claimed`'s result, when given), the run's new
/// successors reserved (with their records), the job's token released. Then a claimed
/// result's writes are stored and the successors are published: a crash in between
/// leaves the marker listing both, and the redelivered job writes the writes and
/// publishes the successors still outstanding (`redelivered_done`).
pub async fn finish(
    core: &EngineCore,
    plan: &BlueprintPlan,
    job: &Job,
    claimed: Option<ClaimedResult>,
) -> Result<(), EngineError> {
    let run_id = job.run_id.as_str();
    let backend = EngineError::backend_at(run_id, &job.node_id);
    let mut successors = origin::take_deferred();
    let (arrivals, join_jobs): (Vec<JoinArrival>, Vec<Job>) = origin::take_deferred_arrivals()
        .into_iter()
        .map(|arrival| {
            let reserved = (arrival.job.job_id.clone(), work_record(&arrival.job, None));
            let made = JoinArrival {
                key: arrival.key,
                member: arrival.member,
                job_id: job.job_id.clone(),
                expected: arrival.expected,
                job: reserved,
            };
            (made, arrival.job)
        })
        .unzip();
    let mut listed = origin::dispatched_so_far();
    listed.extend(successors.iter().cloned());
    // A join's job is listed whether it fires or not: a redelivery republishes only the
    // listed jobs still outstanding, and one that did not fire never was.
    listed.extend(join_jobs.iter().cloned());
    let (completion, writes) = match claimed {
        Some(ClaimedResult { completion, ops }) => {
            let stamp = WriteStamp::next();
            (Some(completion), Some(origin::ClaimedWrites { stamp, ops }))
        }
        None => (None, None),
    };
    // The marker keeps which message handled this job and what it dispatched.
    let mut marker = origin::DoneMarker {
        source: current_source(core),
        jobs: listed,
        writes,
    };
    let finish = JobFinish {
        run_id,
        job_id: &job.job_id,
        marker: serde_json::to_string(&marker).unwrap_or_default(),
        successors: successors
            .iter()
            .map(|next| (next.job_id.clone(), work_record(next, None)))
            .collect(),
        arrivals,
        token: &job.job_id,
        stamp: core.now_ms().to_string(),
    };
    // A join this job arrives at may fire before its claimed writes are stored: it waits.
    let storing = (!join_jobs.is_empty()).then(|| core.arrival_writes.storing(run_id, &job.job_id));
    let finished = core
        .backends
        .coordination
        .finish_job(finish)
        .await
        .map_err(&backend)?;
    let mut filled = Vec::new();
    for (join_job, outcome) in join_jobs.into_iter().zip(finished.joins) {
        if let JoinOutcome::Fired { arrived } = outcome {
            successors.push(join_job);
            filled.push(arrived);
        }
    }
    if finished.claimed {
        if let Some(completion) = &completion {
            accept::announce(core, plan.id(), job, completion);
        }
        if let Some(writes) = marker.writes.take() {
            run_io::write_context_at(core, run_id, writes.ops, writes.stamp)
                .await
                .map_err(&backend)?;
        }
        if let Some(storing) = storing {
            storing.stored();
        }
        for arrived in filled {
            arrivals_stored(core, run_id, &job.job_id, arrived).await?;
        }
        if !successors.is_empty() {
            publish(core, run_id, successors).await?;
        }
    }
    if finished.drained {
        settle(core, run_id, plan.id()).await?;
    }
    Ok(())
}

/// Before a join this job fired is published: the writes of every job that arrived at
/// it are stored. Those this process stored (or is storing: it waits) are; the others
/// are written again from their done markers, at their own stamps.
async fn arrivals_stored(
    core: &EngineCore,
    run_id: &str,
    job_id: &str,
    arrived: Option<Vec<String>>,
) -> Result<(), EngineError> {
    let backend = EngineError::backend(run_id);
    let Some(arrived) = arrived else {
        return run_io::store_claimed_writes(core, run_id).await.map_err(backend);
    };
    for other in arrived.iter().filter(|other| *other != job_id) {
        if core.arrival_writes.known(run_id, other).await == Known::Stored {
            continue;
        }
        let marker = core
            .backends
            .coordination
            .get(&keys::job_done(run_id, other))
            .await
            .map_err(&backend)?;
        let writes = marker
            .and_then(|text| serde_json::from_str::<origin::DoneMarker>(&text).ok())
            .and_then(|marker| marker.writes);
        if let Some(writes) = writes {
            run_io::replay_writes(core, run_id, writes.ops, writes.stamp)
                .await
                .map_err(&backend)?;
        }
    }
    core.arrival_writes.forget(run_id, &arrived);
    Ok(())
}

/// A job that can never be handled here: the run fails with the reason (once; a
/// finished run keeps its result) and the job is set aside for the transport's error
/// topic.
pub async fn reject(
    core: &EngineCore,
    job: &Job,
    blueprint_id: &str,
    reason: String,
) -> Result<JobDisposition, EngineError> {
    set_aside(core, &job.run_id, blueprint_id, &job.job_id, reason).await
}

/// Fails the run with `reason`, releases the job and sets it aside.
async fn set_aside(
    core: &EngineCore,
    run_id: &str,
    blueprint_id: &str,
    job_id: &str,
    reason: String,
) -> Result<JobDisposition, EngineError> {
    fail_run(core, run_id, blueprint_id, RunFailure::of_run(reason.clone())).await?;
    release(core, run_id, blueprint_id, job_id).await?;
    Ok(JobDisposition::Reject { reason })
}

/// Which job gives up (its fields, the job itself is gone by then).
pub struct JobRef<'a> {
    pub run_id: &'a str,
    pub blueprint_id: &'a str,
    pub job_id: &'a str,
    pub node_id: &'a str,
}

/// A job whose effects a backend refused for good (too large, invalid): retrying would
/// block its run and its partition forever. The run fails once with the refusal, the job
/// is set aside for the error topic, and its offset moves on. When even the failure is
/// refused (the run id itself is), the job is still set aside; a transient failure while
/// recording it hands the job back, to give up again.
pub async fn give_up(
    core: &EngineCore,
    job: JobRef<'_>,
    refusal: BackendError,
) -> Result<JobDisposition, EngineError> {
    let reason = format!("Node '{}' could not be recorded: {refusal}", job.node_id);
    core.log().error(
        &format!(
            "job '{}' of run {} gives up, its run fails: {reason}",
            job.job_id,
            shown_run_id(job.run_id)
        ),
        json!({"runId": shown_run_id(job.run_id), "blueprintId": job.blueprint_id, "nodeId": job.node_id, "jobId": job.job_id}),
    );
    match set_aside(core, job.run_id, job.blueprint_id, job.job_id, reason.clone()).await {
        Err(EngineError::Backend { source, .. }) if source.permanent => Ok(JobDisposition::Reject {
            reason: format!("{reason}; the run's failure was refused too: {source}"),
        }),
        handled => handled,
    }
}

fn current_source(core: &EngineCore) -> Option<String> {
    origin::current_receipt().and_then(|receipt| core.backends.transport.source_of(receipt))
}

/// A job delivered again after it was done. When it is the very message that handled it
/// (same source position), that handling's transaction was lost (the worker died before
/// committing), and with it the successors it published: those still outstanding are
/// published again. Any other copy (a duplicate message) changes nothing: the first
/// copy's successors stand, or come back with its own redelivery. A transport that
/// cannot tell copies apart (no source) gets the outstanding ones again each time.
async fn republish_outstanding(
    core: &EngineCore,
    plan: &BlueprintPlan,
    run_id: &str,
    marker: origin::DoneMarker,
) -> Result<(), EngineError> {
    let current = current_source(core);
    if marker.source.is_some() && current.is_some() && marker.source != current {
        return Ok(());
    }
    let outstanding = keys::outstanding(run_id);
    let mut again = Vec::new();
    for job in marker.jobs {
        let pending = core
            .backends
            .coordination
            .has_member(&outstanding, &job.job_id)
            .await
            .map_err(EngineError::backend(run_id))?;
        if pending {
            again.push(job);
        }
    }
    if again.is_empty() {
        return Ok(());
    }
    // A join this job fired: the other arrivals' writes may not be stored yet, and who
    // they were is no longer known.
    if again.iter().any(|job| plan.predecessors(&job.node_id).len() > 1) {
        run_io::store_claimed_writes(core, run_id)
            .await
            .map_err(EngineError::backend(run_id))?;
    }
    publish(core, run_id, again).await
}
