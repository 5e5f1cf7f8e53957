//! `createKafkaReconciler`: finds runs of a started `KafkaAdapter` that made no progress
//! for `stalledThresholdSeconds` and publishes their lost work again, once (`run()`) or
//! every `intervalMs` (`start()` / `stop()`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;
use tokio::task::JoinHandle;

use super::errors::{coded, spawn_coded, InvalidArgument};
use super::kafka_adapter::KafkaAdapter;
use crate::adapter::distributed::DistributedBackends;
use crate::adapter::reconciler::{reconcile_once, ReconciliationStats as Stats};
use crate::engine::Engine;

/// What one reconciliation pass found and did.
#[napi(object)]
pub struct ReconciliationStats {
    /// Runs with no progress for the threshold (HITL waits are not stalls).
    pub stalled_runs: u32,
    /// Of those, runs whose lost jobs and timers were published again, or that were settled.
    pub reconciled_runs: u32,
    /// Of those, runs that cannot be resumed (failed with the reason) or hit an error.
    pub failed_runs: u32,
}

impl From<Stats> for ReconciliationStats {
    fn from(stats: Stats) -> Self {
        let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        ReconciliationStats {
            stalled_runs: clamp(stats.stalled_runs),
            reconciled_runs: clamp(stats.reconciled_runs),
            failed_runs: clamp(stats.failed_runs),
        }
    }
}

#[napi(object)]
pub struct ReconcilerStartOptions {
    /// Time between passes, default 60000 (at least 100).
    pub interval_ms: Option<u32>,
}

#[napi]
pub struct KafkaReconciler {
    engine: Arc<Engine>,
    backends: Arc<DistributedBackends>,
    threshold: Duration,
    periodic: Arc<Mutex<Option<JoinHandle<()>>>>,
}

/// Creates a reconciler for a `KafkaAdapter` (start the adapter before `run()`).
/// Options: `adapter`, `stalledThresholdSeconds` (default 300: a run whose outstanding
/// work has not changed for that long is stalled).
#[napi(ts_args_type = "options: { adapter: KafkaAdapter; stalledThresholdSeconds?: number }")]
pub fn create_kafka_reconciler(env: Env, options: Object) -> Result<KafkaReconciler> {
    let invalid = |message: String| coded(&env, &InvalidArgument(message));
    let adapter = match options.get::<Unknown>("adapter")? {
        Some(value) => ClassInstance::<KafkaAdapter>::from_unknown(value)
            .map_err(|_| invalid("createKafkaReconciler: options.adapter must be a KafkaAdapter".into()))?,
        None => {
            return Err(invalid(
                "createKafkaReconciler: options.adapter is missing".into(),
            ))
        }
    };
    let seconds = options.get::<f64>("stalledThresholdSeconds")?.unwrap_or(300.0);
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(invalid(format!(
            "createKafkaReconciler: stalledThresholdSeconds = {seconds}: expected a positive number of seconds"
        )));
    }
    let (engine, backends) = adapter.engine_and_backends();
    Ok(KafkaReconciler {
        engine,
        backends,
        threshold: Duration::from_secs_f64(seconds),
        periodic: Arc::default(),
    })
}

#[napi]
impl KafkaReconciler {
    /// One pass: resolves with what it found (ERR_NOT_STARTED before `adapter.start()`).
    #[napi(ts_return_type = "Promise<ReconciliationStats>")]
    pub fn run<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ReconciliationStats>> {
        let (engine, backends, threshold) = (self.engine.clone(), self.backends.clone(), self.threshold);
        spawn_coded(env, async move {
            reconcile_once(&engine, &backends, threshold)
                .await
                .map(ReconciliationStats::from)
        })
    }

    /// Runs a pass every `intervalMs` in the background until `stop()`; a failing pass
    /// is logged and the next one runs on time.
    #[napi]
    pub fn start<'env>(
        &self,
        env: &'env Env,
        options: Option<ReconcilerStartOptions>,
    ) -> Result<PromiseRaw<'env, ()>> {
        let interval_ms = options.and_then(|o| o.interval_ms).unwrap_or(60_000);
        if interval_ms < 100 {
            return Err(coded(
                env,
                &InvalidArgument(format!(
                    "reconciler.start: intervalMs = {interval_ms}: expected at least 100"
                )),
            ));
        }
        let (engine, backends, threshold) = (self.engine.clone(), self.backends.clone(), self.threshold);
        let periodic = self.periodic.clone();
        spawn_coded(env, async move {
            let task = tokio::spawn(async move {
                let mut ticks = tokio::time::interval(Duration::from_millis(u64::from(interval_ms)));
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    if let Err(error) = reconcile_once(&engine, &backends, threshold).await {
                        engine.logger().error(
                            &format!("reconciliation pass failed: {error}"),
                            serde_json::json!({"code": crate::errors::CodedError::code(&error)}),
                        );
                    }
                }
            });
            if let Some(previous) = periodic.lock().unwrap_or_else(|p| p.into_inner()).replace(task) {
                previous.abort();
            }
            Ok::<(), crate::errors::AnyCodedError>(())
        })
    }

    /// Stops the periodic passes (a pass under way is abandoned; it is safe to repeat).
    #[napi]
    pub fn stop(&self) {
        if let Some(task) = self.periodic.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }
}
