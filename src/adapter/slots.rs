//! Backend slots filled at `start()`. The engine is built (and its blueprints validated)
//! when an adapter is constructed, but connections are made only when it starts; until
//! then, and after stop, every call fails with a clear "not started" error.

use std::sync::{Arc, RwLock};

use serde_json::{Map, Value};

use crate::engine::run::{PublishedResult, RunRecord};
use crate::engine::traits::{
    BackendError, BackendResult, BoxFuture, ContextOp, ContextStore, CoordinationStore, Delivery,
    DeliveryReceipt, FinalClaim, JobDisposition, JobFinish, JobFinished, JobStart, JobTransport, SetAdd,
    StatusStore, Timer, WriteStamp,
};
use crate::engine::Job;
use crate::errors::CodedError;

/// One backend, replaceable: set at start, cleared at stop.
pub struct Slot<T: ?Sized> {
    what: &'static str,
    current: RwLock<Option<Arc<T>>>,
}

impl<T: ?Sized> Slot<T> {
    pub fn new(what: &'static str) -> Arc<Self> {
        Arc::new(Slot {
            what,
            current: RwLock::new(None),
        })
    }

    pub fn fill(&self, backend: Arc<T>) {
        if let Ok(mut current) = self.current.write() {
            *current = Some(backend);
        }
    }

    pub fn clear(&self) -> Option<Arc<T>> {
        self.current.write().ok().and_then(|mut c| c.take())
    }

    fn get(&self, operation: &'static str) -> BackendResult<Arc<T>> {
        self.current.read().ok().and_then(|c| c.clone()).ok_or_else(|| {
            BackendError::new(
                operation,
                format!(
                    "the {} is not connected: call start() on the adapter first",
                    self.what
                ),
            )
            .caused_by(crate::errors::NotStarted.as_cause())
        })
    }
}

macro_rules! forward {
    ($slot:expr, $operation:literal, |$backend:ident| $call:expr) => {
        Box::pin(async move {
            let $backend = $slot.get($operation)?;
            $call.await
        })
    };
}

impl JobTransport for Slot<dyn JobTransport> {
    fn enqueue<'a>(&'a self, jobs: Vec<Job>) -> BoxFuture<'a, BackendResult<()>> {
        forward!(self, "enqueue", |t| t.enqueue(jobs))
    }
    fn enqueue_from<'a>(
        &'a self,
        origin: DeliveryReceipt,
        jobs: Vec<Job>,
    ) -> BoxFuture<'a, BackendResult<()>> {
        forward!(self, "enqueue", |t| t.enqueue_from(origin, jobs))
    }
    fn receive<'a>(&'a self, max: usize) -> BoxFuture<'a, BackendResult<Vec<Delivery>>> {
        forward!(self, "receive", |t| t.receive(max))
    }
    fn source_of(&self, receipt: DeliveryReceipt) -> Option<String> {
        self.get("source of").ok().and_then(|t| t.source_of(receipt))
    }
    fn generation(&self) -> Option<u64> {
        self.get("generation").ok().and_then(|t| t.generation())
    }
    fn acknowledge<'a>(
        &'a self,
        receipt: DeliveryReceipt,
        disposition: JobDisposition,
    ) -> BoxFuture<'a, BackendResult<()>> {
        forward!(self, "acknowledge", |t| t.acknowledge(receipt, disposition))
    }
}

impl ContextStore for Slot<dyn ContextStore> {
    fn load<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<Map<String, Value>>> {
        forward!(self, "load context", |c| c.load(run_id))
    }
    fn apply<'a>(
        &'a self,
        run_id: &'a str,
        ops: Vec<ContextOp>,
        stamp: WriteStamp,
    ) -> BoxFuture<'a, BackendResult<()>> {
        forward!(self, "apply context", |c| c.apply(run_id, ops, stamp))
    }
    fn get<'a>(&'a self, run_id: &'a str, key: &'a str) -> BoxFuture<'a, BackendResult<Option<Value>>> {
        forward!(self, "get context key", |c| c.get(run_id, key))
    }
}

impl StatusStore for Slot<dyn StatusStore> {
    fn mark_running<'a>(&'a self, run_id: &'a str, now_ms: u64) -> BoxFuture<'a, BackendResult<()>> {
        forward!(self, "mark running", |s| s.mark_running(run_id, now_ms))
    }
    fn create_run<'a>(&'a self, run_id: &'a str, now_ms: u64) -> BoxFuture<'a, BackendResult<bool>> {
        forward!(self, "create run", |s| s.create_run(run_id, now_ms))
    }
    fn publish<'a>(
        &'a self,
        run_id: &'a str,
        result: PublishedResult,
        now_ms: u64,
    ) -> BoxFuture<'a, BackendResult<bool>> {
        forward!(self, "publish result", |s| s.publish(run_id, result, now_ms))
    }
    fn get<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<Option<RunRecord>>> {
        forward!(self, "get status", |s| s.get(run_id))
    }
    fn wait_for_result<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<RunRecord>> {
        forward!(self, "wait for result", |s| s.wait_for_result(run_id))
    }
    fn published<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<Vec<PublishedResult>>> {
        forward!(self, "published results", |s| s.published(run_id))
    }
}

impl CoordinationStore for Slot<dyn CoordinationStore> {
    fn begin_job<'a>(&'a self, run_id: &'a str, job_id: &'a str) -> BoxFuture<'a, BackendResult<JobStart>> {
        forward!(self, "begin job", |c| c.begin_job(run_id, job_id))
    }
    fn bump_epoch<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<u64>> {
        forward!(self, "bump epoch", |c| c.bump_epoch(run_id))
    }
    fn finish_job<'a>(&'a self, finish: JobFinish<'a>) -> BoxFuture<'a, BackendResult<JobFinished>> {
        forward!(self, "finish job", |c| c.finish_job(finish))
    }
    fn work_record<'a>(
        &'a self,
        run_id: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, BackendResult<Option<String>>> {
        forward!(self, "read work record", |c| c.work_record(run_id, token))
    }
    fn reserve_jobs<'a>(
        &'a self,
        run_id: &'a str,
        jobs: Vec<(String, String)>,
        stamp: String,
    ) -> BoxFuture<'a, BackendResult<()>> {
        forward!(self, "reserve jobs", |c| c.reserve_jobs(run_id, jobs, stamp))
    }
    fn reserve_jobs_bumping_epoch<'a>(
        &'a self,
        run_id: &'a str,
        jobs: Vec<(String, String)>,
        stamp: String,
    ) -> BoxFuture<'a, BackendResult<u64>> {
        forward!(self, "reserve jobs", |c| c
            .reserve_jobs_bumping_epoch(run_id, jobs, stamp))
    }
    fn claim_final<'a>(
        &'a self,
        run_id: &'a str,
        claimant: &'a str,
        now_ms: u64,
        replacing: Option<&'a str>,
    ) -> BoxFuture<'a, BackendResult<FinalClaim>> {
        forward!(self, "claim final result", |c| c
            .claim_final(run_id, claimant, now_ms, replacing))
    }
    fn add_member<'a>(&'a self, key: &'a str, member: &'a str) -> BoxFuture<'a, BackendResult<SetAdd>> {
        forward!(self, "add member", |c| c.add_member(key, member))
    }
    fn remove_member<'a>(&'a self, key: &'a str, member: &'a str) -> BoxFuture<'a, BackendResult<usize>> {
        forward!(self, "remove member", |c| c.remove_member(key, member))
    }
    fn set_size<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<usize>> {
        forward!(self, "set size", |c| c.set_size(key))
    }
    fn has_member<'a>(&'a self, key: &'a str, member: &'a str) -> BoxFuture<'a, BackendResult<bool>> {
        forward!(self, "has member", |c| c.has_member(key, member))
    }
    fn arrive_at_join<'a>(
        &'a self,
        key: &'a str,
        member: &'a str,
        expected: usize,
        fired_key: &'a str,
    ) -> BoxFuture<'a, BackendResult<bool>> {
        forward!(self, "arrive at join", |c| c
            .arrive_at_join(key, member, expected, fired_key))
    }
    fn clear_set<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<()>> {
        forward!(self, "clear set", |c| c.clear_set(key))
    }
    fn claim_once<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, BackendResult<bool>> {
        forward!(self, "claim once", |c| c.claim_once(key, value))
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<Option<String>>> {
        forward!(self, "get key", |c| c.get(key))
    }
    fn put<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, BackendResult<()>> {
        forward!(self, "put key", |c| c.put(key, value))
    }
    fn members<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<Vec<String>>> {
        forward!(self, "set members", |c| c.members(key))
    }
    fn values_with_prefix<'a>(&'a self, key_prefix: &'a str) -> BoxFuture<'a, BackendResult<Vec<String>>> {
        forward!(self, "values with prefix", |c| c.values_with_prefix(key_prefix))
    }
    fn forget_run<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<()>> {
        forward!(self, "forget run", |c| c.forget_run(run_id))
    }
}

impl Timer for Slot<dyn Timer> {
    fn schedule<'a>(&'a self, at_ms: u64, job: Job) -> BoxFuture<'a, BackendResult<()>> {
        forward!(self, "schedule", |t| t.schedule(at_ms, job))
    }
}
