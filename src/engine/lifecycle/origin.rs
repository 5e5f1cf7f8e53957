//! Which delivery the current task is handling. Jobs dispatched while handling a
//! delivery are published with it (a transactional transport commits them together with
//! the delivery's offset) and remembered in the job's done marker, so a redelivered job
//! whose transaction was lost can publish them again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::engine::job::Job;
use crate::engine::traits::{ContextOp, DeliveryReceipt, WriteStamp};

tokio::task_local! {
    static HANDLING: Handling;
}

struct Handling {
    receipt: DeliveryReceipt,
    dispatched: Mutex<Vec<Job>>,
    /// Successors of the handled run, reserved and published when the job finishes.
    deferred: Mutex<Vec<Job>>,
    /// Arrivals at the run's `'all'` joins, made when the job finishes.
    arrivals: Mutex<Vec<DeferredArrival>>,
    /// The job was a copy of one already handled: nothing ran (see `mark_duplicate`).
    duplicate: AtomicBool,
}

/// An arrival at an `'all'` join kept for the job's finish (`JobFinish::arrivals`), with
/// the join's job, published if this arrival fires it.
#[derive(Debug, Clone)]
pub struct DeferredArrival {
    pub key: String,
    pub member: String,
    pub expected: usize,
    pub job: Job,
}

/// Runs `work` as the handling of `receipt`.
pub async fn handling<F: std::future::Future>(receipt: DeliveryReceipt, work: F) -> F::Output {
    let scope = Handling {
        receipt,
        dispatched: Mutex::new(Vec::new()),
        deferred: Mutex::new(Vec::new()),
        arrivals: Mutex::new(Vec::new()),
        duplicate: AtomicBool::new(false),
    };
    HANDLING.scope(scope, work).await
}

/// What a job's done marker keeps: the message that handled it, the jobs it
/// dispatched, and the context writes it claimed with the marker (written after it).
#[derive(serde::Serialize, serde::Deserialize, Default)]
pub struct DoneMarker {
    pub source: Option<String>,
    pub jobs: Vec<Job>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes: Option<ClaimedWrites>,
}

/// Context writes decided before the done marker and stored after it: a handling that
/// dies in between leaves them here, and the job's redelivery writes them (at the same
/// stamp, so a newer write of the same keys stands).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ClaimedWrites {
    pub stamp: WriteStamp,
    pub ops: Vec<ContextOp>,
}

/// The delivery being handled by this task, if any.
pub fn current_receipt() -> Option<DeliveryReceipt> {
    HANDLING.try_with(|h| h.receipt).ok()
}

/// Notes that the delivery being handled was a copy of a job already handled (or of a
/// run already final), for the worker's `jobs_handled` count.
pub fn mark_duplicate() {
    let _ = HANDLING.try_with(|h| h.duplicate.store(true, Ordering::Relaxed));
}

/// Whether `mark_duplicate` was called in this handling.
pub fn was_duplicate() -> bool {
    HANDLING
        .try_with(|h| h.duplicate.load(Ordering::Relaxed))
        .unwrap_or(false)
}

/// The jobs dispatched so far by the delivery being handled (empty outside one).
pub fn dispatched_so_far() -> Vec<Job> {
    HANDLING
        .try_with(|h| h.dispatched.lock().map(|d| d.clone()).unwrap_or_default())
        .unwrap_or_default()
}

/// Notes jobs dispatched by the delivery being handled (no-op outside one).
pub fn record_dispatched(jobs: &[Job]) {
    let _ = HANDLING.try_with(|h| {
        if let Ok(mut dispatched) = h.dispatched.lock() {
            dispatched.extend(jobs.iter().cloned());
        }
    });
}

/// Keeps successors of the handled run for the job's finish (`CoordinationStore::
/// finish_job`), which reserves them atomically with the job's done marker and the
/// release of its token. Gives the jobs back outside a handling.
pub fn defer(jobs: Vec<Job>) -> Result<(), Vec<Job>> {
    let mut jobs = Some(jobs);
    let _ = HANDLING.try_with(|h| {
        if let (Ok(mut deferred), Some(taken)) = (h.deferred.lock(), jobs.take()) {
            deferred.extend(taken);
        }
    });
    match jobs {
        None => Ok(()),
        Some(jobs) => Err(jobs),
    }
}

/// The successors kept by `defer`, taken (empty outside a handling).
pub fn take_deferred() -> Vec<Job> {
    HANDLING
        .try_with(|h| {
            h.deferred
                .lock()
                .map(|mut d| std::mem::take(&mut *d))
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

/// Keeps an arrival for the job's finish, which makes it atomically with the job's done
/// marker. False outside a handling (nothing kept).
pub fn defer_arrival(arrival: DeferredArrival) -> bool {
    HANDLING
        .try_with(|h| match h.arrivals.lock() {
            Ok(mut arrivals) => {
                arrivals.push(arrival);
                true
            }
            Err(_) => false,
        })
        .unwrap_or(false)
}

/// The arrivals kept by `defer_arrival`, taken (empty outside a handling).
pub fn take_deferred_arrivals() -> Vec<DeferredArrival> {
    HANDLING
        .try_with(|h| {
            h.arrivals
                .lock()
                .map(|mut a| std::mem::take(&mut *a))
                .unwrap_or_default()
        })
        .unwrap_or_default()
}
