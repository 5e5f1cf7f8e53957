//! The seams between the engine and the world: job transport, state stores,
//! coordination, timers and the clock. Every method is object-safe and async
//! (a boxed future) so backends can be Kafka, Cassandra and Redis as well as
//! the in-process versions in `crate::memory`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::engine::error::ErrorCause;
use crate::engine::job::Job;
use crate::engine::run::{PublishedResult, RunRecord};

/// The future every trait method returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The code of `crate::errors::NotStarted`, which the engine reports as it is.
pub const NOT_STARTED: &str = "ERR_NOT_STARTED";

/// A failure inside a backend (network, store, serialization). Backends put
/// the operation and the run it concerns in `operation` / `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendError {
    pub operation: &'static str,
    pub message: String,
    /// The same request can never succeed (refused as invalid, over a size limit,
    /// undecodable): retrying it would block its run and partition forever.
    pub permanent: bool,
    /// The backend's own coded error, when it has one (its code, table, topic, cause).
    pub cause: Option<Box<ErrorCause>>,
}

impl BackendError {
    /// A failure that may pass (a service down, a timeout): the job is tried again.
    pub fn new(operation: &'static str, message: impl Into<String>) -> Self {
        Self {
            operation,
            message: message.into(),
            permanent: false,
            cause: None,
        }
    }

    /// Whether the backend was not connected (its adapter not started, or stopped).
    pub fn is_not_started(&self) -> bool {
        self.cause.as_ref().and_then(|cause| cause.code.as_deref()) == Some(NOT_STARTED)
    }

    /// The backend's own code (`ERR_KAFKA_CLOSED`, ...) when it gave one, else `ERR_BACKEND`.
    pub fn code(&self) -> &str {
        self.cause
            .as_ref()
            .and_then(|cause| cause.code.as_deref())
            .unwrap_or("ERR_BACKEND")
    }

    /// The same failure, with the backend's coded error underneath.
    pub fn caused_by(mut self, cause: ErrorCause) -> Self {
        self.cause = Some(Box::new(cause));
        self
    }

    /// A failure that retrying cannot mend: the run fails with it instead.
    pub fn permanent(operation: &'static str, message: impl Into<String>) -> Self {
        Self {
            permanent: true,
            ..Self::new(operation, message)
        }
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.operation, self.message)
    }
}

impl std::error::Error for BackendError {}

pub type BackendResult<T> = Result<T, BackendError>;

/// When a context write was decided: µs since 1970, rising within a process. Per key,
/// the write with the latest stamp stands, so a write applied again later (a redelivered
/// job replaying the writes its done marker recorded) never undoes a newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WriteStamp(pub i64);

impl WriteStamp {
    /// A stamp above every one this process made before.
    pub fn next() -> Self {
        use std::sync::atomic::{AtomicI64, Ordering};
        static LAST: AtomicI64 = AtomicI64::new(0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        let mut last = LAST.load(Ordering::Relaxed);
        loop {
            let stamp = now.max(last + 1);
            match LAST.compare_exchange_weak(last, stamp, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return WriteStamp(stamp),
                Err(seen) => last = seen,
            }
        }
    }
}

/// One write to a run's flat context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum ContextOp {
    Set { key: String, value: Value },
    Delete { key: String },
}

impl ContextOp {
    pub fn set(key: impl Into<String>, value: Value) -> Self {
        ContextOp::Set {
            key: key.into(),
            value,
        }
    }

    pub fn delete(key: impl Into<String>) -> Self {
        ContextOp::Delete { key: key.into() }
    }

    /// `Some(v)` sets, `None` deletes: how a JS `undefined` is stored.
    pub fn set_or_delete(key: impl Into<String>, value: Option<Value>) -> Self {
        match value {
            Some(value) => ContextOp::set(key, value),
            None => ContextOp::delete(key),
        }
    }

    pub fn key(&self) -> &str {
        match self {
            ContextOp::Set { key, .. } | ContextOp::Delete { key } => key,
        }
    }

    /// Applies the op to an in-memory snapshot (used for the working copy a
    /// job routes on, and by the memory store).
    pub fn apply_to(&self, map: &mut Map<String, Value>) {
        match self {
            ContextOp::Set { key, value } => {
                map.insert(key.clone(), value.clone());
            }
            ContextOp::Delete { key } => {
                map.remove(key);
            }
        }
    }
}

/// Opaque handle the transport gives with each delivered job, returned on
/// acknowledgement (Kafka: partition + offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeliveryReceipt(pub u64);

/// A job handed to the worker.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub job: Job,
    pub receipt: DeliveryReceipt,
}

/// How the worker finished with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobDisposition {
    /// Fully handled (its effects are recorded): the offset may be committed.
    Done,
    /// Not handled (infrastructure error, shutdown): deliver it again later.
    Redeliver { reason: String },
    /// Not a job this worker can ever handle (unknown blueprint or node): set it aside
    /// with the reason (Kafka: the error topic) and move on.
    Reject { reason: String },
}

/// Moves jobs between the engine and its workers.
pub trait JobTransport: Send + Sync {
    /// Publishes jobs (Kafka: keyed by run id, so a run keeps its order).
    fn enqueue<'a>(&'a self, jobs: Vec<Job>) -> BoxFuture<'a, BackendResult<()>>;
    /// Publishes jobs caused by handling `origin`. A transactional transport makes them
    /// visible together with `origin`'s acknowledgement; the default publishes at once.
    fn enqueue_from<'a>(
        &'a self,
        origin: DeliveryReceipt,
        jobs: Vec<Job>,
    ) -> BoxFuture<'a, BackendResult<()>> {
        let _ = origin;
        self.enqueue(jobs)
    }
    /// Waits for up to `max` jobs; returns at least one, or an empty batch
    /// when the transport is closed.
    fn receive<'a>(&'a self, max: usize) -> BoxFuture<'a, BackendResult<Vec<Delivery>>>;
    /// Where a delivery came from, stable across redeliveries of the same message (Kafka:
    /// `topic/partition@offset`); `None` when the transport cannot tell.
    fn source_of(&self, receipt: DeliveryReceipt) -> Option<String> {
        let _ = receipt;
        None
    }
    /// The assignment generation: changes whenever this consumer's partitions change
    /// (see `run_state`). `None` when a run's jobs may reach any consumer (no owner
    /// can keep a run's state in memory).
    fn generation(&self) -> Option<u64> {
        None
    }
    /// Tells the transport a delivery is finished (commit below the lowest
    /// unfinished receipt) or must be delivered again.
    fn acknowledge<'a>(
        &'a self,
        receipt: DeliveryReceipt,
        disposition: JobDisposition,
    ) -> BoxFuture<'a, BackendResult<()>>;
}

/// Per-run flat map of JSON values, one row per key.
pub trait ContextStore: Send + Sync {
    fn load<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<Map<String, Value>>>;
    /// Applies every op or none (one single-partition batch), as of `stamp`: a key
    /// written with a later stamp keeps that write.
    fn apply<'a>(
        &'a self,
        run_id: &'a str,
        ops: Vec<ContextOp>,
        stamp: WriteStamp,
    ) -> BoxFuture<'a, BackendResult<()>>;
    fn get<'a>(&'a self, run_id: &'a str, key: &'a str) -> BoxFuture<'a, BackendResult<Option<Value>>>;
}

/// Per-run status row and the results a run published.
pub trait StatusStore: Send + Sync {
    /// Sets `running` unless the run already has a final result.
    fn mark_running<'a>(&'a self, run_id: &'a str, now_ms: u64) -> BoxFuture<'a, BackendResult<()>>;
    /// What `mark_running` does, only if the run has no status row (whatever its status):
    /// answers whether it did. Atomic, so of two starts under one run id one is told no.
    fn create_run<'a>(&'a self, run_id: &'a str, now_ms: u64) -> BoxFuture<'a, BackendResult<bool>>;
    /// Records a published result. Once a run has a final result (`completed`/`failed`)
    /// it keeps it: no later write changes it. Answers whether the result was taken;
    /// a store that cannot tell without reading (Cassandra) answers `true`, and the
    /// engine decides which final is announced beforehand (`CoordinationStore::
    /// claim_final`).
    fn publish<'a>(
        &'a self,
        run_id: &'a str,
        result: PublishedResult,
        now_ms: u64,
    ) -> BoxFuture<'a, BackendResult<bool>>;
    fn get<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<Option<RunRecord>>>;
    /// Resolves once the run's status is `awaiting`, `completed` or `failed`.
    fn wait_for_result<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<RunRecord>>;
    /// Every result the run published, oldest first.
    fn published<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<Vec<PublishedResult>>>;
}

/// What `CoordinationStore::claim_final` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinalClaim {
    /// The claim is this claimant's now (the first, or in place of `replacing`).
    Won,
    /// This claimant held it already: an earlier handling of the same job claimed it.
    Again,
    /// Another claimant holds it, since `at_ms`; `held` is the stored claim (to replace
    /// it when its holder is gone).
    Lost { held: String, at_ms: u64 },
}

impl FinalClaim {
    /// The stored form of a claim: `<ms> <claimant>`.
    pub fn encode(claimant: &str, now_ms: u64) -> String {
        format!("{now_ms} {claimant}")
    }

    /// What a claim attempt by `claimant` means, given the claim that was stored (or
    /// none) and the claim it may replace: `Won` means the store is to hold this claim.
    pub fn judge(claimant: &str, stored: Option<String>, replacing: Option<&str>) -> FinalClaim {
        let Some(held) = stored.filter(|held| Some(held.as_str()) != replacing) else {
            return FinalClaim::Won;
        };
        let (at, holder) = held.split_once(' ').unwrap_or(("0", held.as_str()));
        if holder == claimant {
            return FinalClaim::Again;
        }
        let at_ms = at.parse().unwrap_or(0);
        FinalClaim::Lost { held, at_ms }
    }
}

/// Outcome of adding a member to a coordination set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetAdd {
    /// False when the member was already there (a redelivery).
    pub added: bool,
    /// The set's size after the add.
    pub size: usize,
}

/// What a job needs to know before it runs, read at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobStart {
    /// The job's done marker (`keys::job_done`).
    pub done: Option<String>,
    /// The result an earlier handling stored (`keys::recorded`).
    pub recorded: Option<String>,
    /// The run's epoch (`keys::epoch`; 0 when never bumped).
    pub epoch: u64,
    /// Whether the run expects the job: its id among the run's outstanding tokens, and
    /// the record kept under it (see `lifecycle::admission`).
    pub reservation: Reservation,
}

/// What the run's outstanding set holds under a job's id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Reservation {
    /// Not outstanding: no job of the run is expected under this id.
    #[default]
    Absent,
    /// Outstanding without a job record (a subflow's wake, a resume's hold).
    Token,
    /// Outstanding, with the work record kept for it (`completion::work_record`).
    Record(String),
}

/// The end of a job's handling, as one atomic step (see `CoordinationStore::finish_job`).
#[derive(Debug, Clone)]
pub struct JobFinish<'a> {
    pub run_id: &'a str,
    pub job_id: &'a str,
    /// The job's done marker (`origin::DoneMarker` JSON).
    pub marker: String,
    /// Successors of the run to reserve: (token, record for `work_record`).
    pub successors: Vec<(String, String)>,
    /// Arrivals of this job at `'all'` joins, made only if this call marks it done.
    pub arrivals: Vec<JoinArrival>,
    /// The job's own token, released.
    pub token: &'a str,
    /// `keys::progress` stamp (ms since 1970).
    pub stamp: String,
}

/// One arrival at an `'all'` join (as `CoordinationStore::arrive_at_join` makes it, but
/// telling the arriving job), and the join's job, reserved (as a successor) when this
/// arrival fires the join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinArrival {
    /// The join's arrival set (`keys::fan_in`).
    pub key: String,
    pub member: String,
    /// The arriving job (this finish's), told to the arrival that fires the join.
    pub job_id: String,
    pub expected: usize,
    /// (token, record) of the join's job.
    pub job: (String, String),
}

/// What `finish_job` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFinished {
    /// False when another handling had marked the job done first: nothing was reserved.
    pub claimed: bool,
    /// The run has no token left (this job's was the last).
    pub drained: bool,
    /// Per arrival (in order), what it did to its join (nothing unless claimed).
    pub joins: Vec<JoinOutcome>,
}

/// What one arrival did to its join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// The join waits for more arrivals (or the finish claimed nothing).
    Waiting,
    /// This arrival fired the join. `arrived` = the jobs whose arrivals filled it, this
    /// one included, or None when the store cannot tell.
    Fired { arrived: Option<Vec<String>> },
}

impl JobStart {
    /// A stored epoch (`keys::epoch`): 0 when absent or unreadable.
    pub fn epoch_of(stored: Option<String>) -> u64 {
        stored.and_then(|e| e.parse().ok()).unwrap_or(0)
    }
}

/// Shared, atomic coordination primitives (Redis later).
pub trait CoordinationStore: Send + Sync {
    /// Marks the job done (set-if-absent); if this call marked it, records and reserves
    /// its successors' tokens and makes its join arrivals, reserving the job of each
    /// join one fires; then releases the job's own token and stamps progress. All of it
    /// atomically (Redis: one script; memory: under the store's lock): a crash must not
    /// split the done marker from what it reserved.
    fn finish_job<'a>(&'a self, finish: JobFinish<'a>) -> BoxFuture<'a, BackendResult<JobFinished>>;

    /// Records each job under its token (`keys::work`), adds the tokens to the run's
    /// outstanding set and stamps progress (Redis: one script). `jobs` = (token, record).
    fn reserve_jobs<'a>(
        &'a self,
        run_id: &'a str,
        jobs: Vec<(String, String)>,
        stamp: String,
    ) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            use crate::engine::keys;
            let outstanding = keys::outstanding(run_id);
            for (token, record) in &jobs {
                self.put(&keys::work(run_id, token), record).await?;
                self.add_member(&outstanding, token).await?;
            }
            self.put(&keys::progress(run_id), &stamp).await
        })
    }

    /// `reserve_jobs`, then `bump_epoch`, in one step (Redis: one script): a client's
    /// start, whose writes precede its jobs. Answers the epoch after the bump.
    fn reserve_jobs_bumping_epoch<'a>(
        &'a self,
        run_id: &'a str,
        jobs: Vec<(String, String)>,
        stamp: String,
    ) -> BoxFuture<'a, BackendResult<u64>> {
        Box::pin(async move {
            self.reserve_jobs(run_id, jobs, stamp).await?;
            self.bump_epoch(run_id).await
        })
    }

    /// The job record kept for the outstanding `token` of `run_id` (`reserve_jobs`,
    /// `finish_job`), if it has one (a running child run's token has none).
    fn work_record<'a>(
        &'a self,
        run_id: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, BackendResult<Option<String>>> {
        Box::pin(async move { self.get(&crate::engine::keys::work(run_id, token)).await })
    }

    /// The job's done marker, stored result, reservation and its run's epoch (Redis:
    /// one HMGET).
    fn begin_job<'a>(&'a self, run_id: &'a str, job_id: &'a str) -> BoxFuture<'a, BackendResult<JobStart>> {
        Box::pin(async move {
            use crate::engine::keys;
            let (done_key, recorded_key, epoch_key, outstanding) = (
                keys::job_done(run_id, job_id),
                keys::recorded(run_id, job_id),
                keys::epoch(run_id),
                keys::outstanding(run_id),
            );
            let (done, recorded, epoch, member, record) = futures::join!(
                self.get(&done_key),
                self.get(&recorded_key),
                self.get(&epoch_key),
                self.has_member(&outstanding, job_id),
                self.work_record(run_id, job_id)
            );
            let reservation = match (member?, record?) {
                (false, _) => Reservation::Absent,
                (true, Some(record)) => Reservation::Record(record),
                (true, None) => Reservation::Token,
            };
            Ok(JobStart {
                done: done?,
                recorded: recorded?,
                epoch: JobStart::epoch_of(epoch?),
                reservation,
            })
        })
    }
    /// Another writer than the run's owner changed the run (see `run_state`). The epoch
    /// outlives `forget_run`, so a final result stays visible to an owner's copy. The
    /// default keeps no epoch: only right for stores used without an owning transport.
    /// Answers the epoch after the bump.
    fn bump_epoch<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<u64>> {
        let _ = run_id;
        Box::pin(async { Ok(0) })
    }
    /// Claims the right to publish the run's final result: the first claimant wins, the
    /// same claimant asking again gets `Again`; with `replacing`, a claim still equal to
    /// it is taken over (its holder is gone). The claim outlives `forget_run`, like the
    /// epoch. The default decides nothing (every claim wins): only right with a status
    /// store that keeps the first final itself.
    fn claim_final<'a>(
        &'a self,
        run_id: &'a str,
        claimant: &'a str,
        now_ms: u64,
        replacing: Option<&'a str>,
    ) -> BoxFuture<'a, BackendResult<FinalClaim>> {
        let _ = (run_id, claimant, now_ms, replacing);
        Box::pin(async { Ok(FinalClaim::Won) })
    }
    /// Adds `member` to the set at `key` if absent (and its new size, atomically).
    fn add_member<'a>(&'a self, key: &'a str, member: &'a str) -> BoxFuture<'a, BackendResult<SetAdd>>;
    /// Removes `member`; returns the set's size afterwards (atomically).
    fn remove_member<'a>(&'a self, key: &'a str, member: &'a str) -> BoxFuture<'a, BackendResult<usize>>;
    fn set_size<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<usize>>;
    /// One arrival at an `'all'` join, atomically: adds `member` to the join's set at
    /// `key`; if `fired_key` exists (this arrival fired the join before and is being
    /// handled again) answers true and keeps `member` out of the next round; else, when
    /// the set now holds `expected` members, sets `fired_key`, clears the set (a loop's
    /// next round starts empty) and answers true. A crash can never split these steps.
    fn arrive_at_join<'a>(
        &'a self,
        key: &'a str,
        member: &'a str,
        expected: usize,
        fired_key: &'a str,
    ) -> BoxFuture<'a, BackendResult<bool>>;
    /// Whether `member` is in the set at `key` (SISMEMBER).
    fn has_member<'a>(&'a self, key: &'a str, member: &'a str) -> BoxFuture<'a, BackendResult<bool>>;
    fn clear_set<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<()>>;
    /// Set-if-not-exists: true for the one caller that claimed the key.
    fn claim_once<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, BackendResult<bool>>;
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<Option<String>>>;
    /// Sets `key` to `value` (overwriting), with the run's key lifetime.
    fn put<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, BackendResult<()>>;
    /// Every member of the set at `key` (SMEMBERS), in no particular order.
    fn members<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<Vec<String>>>;
    /// The values of every string key of one run that starts with `key_prefix` (which
    /// names the run, e.g. `keys::job_done(run, "")`), in no particular order.
    fn values_with_prefix<'a>(&'a self, key_prefix: &'a str) -> BoxFuture<'a, BackendResult<Vec<String>>>;
    /// Called once a run has its final result: bumps its epoch (`bump_epoch`: copies of
    /// the run elsewhere learn it is final); its coordination keys
    /// (`flowcraft:<kind>:<runId>...`) are no longer needed and may be
    /// dropped or given a TTL, but for its epoch and final claim (`keys::epoch`,
    /// `keys::final_claim`), which must outlive it. The default keeps them all.
    fn forget_run<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move { self.bump_epoch(run_id).await.map(|_| ()) })
    }
}

/// Delivers a job at an instant (sleep, retry delay, scheduled runs).
pub trait Timer: Send + Sync {
    fn schedule<'a>(&'a self, at_ms: u64, job: Job) -> BoxFuture<'a, BackendResult<()>>;
}

/// Wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> u64;
}
