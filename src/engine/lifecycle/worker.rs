//! The worker loop: takes batches of jobs from the transport (up to the
//! free concurrency), handles each in its own task, and acknowledges each
//! when it is finished, so a Kafka transport can commit offsets below the
//! lowest unfinished one. With concurrency 1 it is strictly one job at a
//! time, oldest first.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::engine::abort::AbortSignal;
use crate::engine::lifecycle::handler::handle_job;
use crate::engine::lifecycle::origin;
use crate::engine::shared::EngineCore;
use crate::engine::telemetry::JobOutcome;
use crate::engine::traits::{Delivery, JobDisposition};

pub struct WorkerHandle {
    stopping: AbortSignal,
    task: JoinHandle<()>,
    slots: Arc<Semaphore>,
    concurrency: usize,
}

pub fn spawn_worker(core: Arc<EngineCore>) -> WorkerHandle {
    let concurrency = core.config.concurrency.max(1);
    let slots = Arc::new(Semaphore::new(concurrency));
    let stopping = AbortSignal::new();
    let task = tokio::spawn(run_loop(core, slots.clone(), stopping.clone()));
    WorkerHandle {
        stopping,
        task,
        slots,
        concurrency,
    }
}

/// After a failed `receive`, the loop tries again this much later; it reports the failure
/// on the first attempt and then every `RECEIVE_FAILURES_PER_REPORT` attempts (~1 min).
const RECEIVE_RETRY: Duration = Duration::from_millis(100);
const RECEIVE_FAILURES_PER_REPORT: u64 = 600;

async fn run_loop(core: Arc<EngineCore>, slots: Arc<Semaphore>, stopping: AbortSignal) {
    let batch_max = core.config.batch_max.max(1);
    let mut failed_receives: u64 = 0;
    loop {
        let first = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stopping.aborted() => return,
        };
        let mut permits = vec![first];
        while permits.len() < batch_max {
            match slots.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        let received = tokio::select! {
            batch = core.backends.transport.receive(permits.len()) => batch,
            _ = stopping.aborted() => return,
        };
        let deliveries = match received {
            Ok(batch) if batch.is_empty() => return,
            Ok(batch) => {
                failed_receives = 0;
                batch
            }
            Err(error) => {
                // The transport is unhealthy: back off instead of spinning, and say so
                // (once, then about every minute) rather than idle in silence.
                let code = error.code();
                if failed_receives == 0 {
                    // Once per spell of failures, not per attempt or report.
                    core.telemetry().error(code);
                }
                if failed_receives.is_multiple_of(RECEIVE_FAILURES_PER_REPORT) {
                    core.log().error(
                        &format!(
                            "this worker cannot receive jobs ({} attempts so far): {error}",
                            failed_receives + 1
                        ),
                        serde_json::json!({"attempts": failed_receives + 1, "code": code}),
                    );
                }
                failed_receives += 1;
                tokio::time::sleep(RECEIVE_RETRY).await;
                continue;
            }
        };
        for (delivery, permit) in deliveries.into_iter().zip(permits) {
            core.in_flight.fetch_add(1, Ordering::SeqCst);
            let core = core.clone();
            tokio::spawn(async move {
                process(&core, delivery).await;
                core.in_flight.fetch_sub(1, Ordering::SeqCst);
                drop(permit);
            });
        }
    }
}

async fn process(core: &EngineCore, delivery: Delivery) {
    let telemetry = core.telemetry();
    telemetry.jobs_in_flight_changed(1);
    let handled = async {
        let handled = handle_job(core, delivery.job).await;
        (handled, origin::was_duplicate())
    };
    let (handled, duplicate) = origin::handling(delivery.receipt, handled).await;
    let disposition = match handled {
        Ok(disposition) => disposition,
        Err(error) => {
            telemetry.error(error.code());
            JobDisposition::Redeliver {
                reason: error.to_string(),
            }
        }
    };
    telemetry.jobs_in_flight_changed(-1);
    telemetry.job_handled(match &disposition {
        JobDisposition::Done if duplicate => JobOutcome::DuplicateSkipped,
        JobDisposition::Done => JobOutcome::Done,
        JobDisposition::Redeliver { .. } => JobOutcome::Redelivered,
        JobDisposition::Reject { .. } => JobOutcome::Rejected,
    });
    // An acknowledgement that fails is redelivered by the transport.
    let _ = core
        .backends
        .transport
        .acknowledge(delivery.receipt, disposition)
        .await;
}

impl WorkerHandle {
    /// Stops taking jobs, lets in-flight jobs finish within `grace`, then
    /// fires their abort signals and waits briefly for them to hand back.
    pub async fn stop(self, core: &EngineCore, grace: Duration) {
        self.stopping.abort("stop");
        let _ = self.task.await;
        let all = self.concurrency as u32;
        let drained = tokio::time::timeout(grace, self.slots.acquire_many(all)).await;
        if drained.is_err() {
            core.shutdown_signal().abort("the worker is shutting down");
            let _ = tokio::time::timeout(Duration::from_secs(1), self.slots.acquire_many(all)).await;
        }
    }
}
