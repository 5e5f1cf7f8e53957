//! `KafkaAdapter`: the engine across worker processes, with jobs on Kafka, state in
//! Cassandra and coordination in Redis. Same API as `InMemoryAdapter`.

use std::sync::{Arc, Mutex, PoisonError};

use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;

use super::adapter_core::{engine_config, AdapterCore, InvalidOptions};
use super::errors::{coded, spawn_coded};
use super::kafka_options::read_distributed_settings;
use crate::adapter::distributed::{DistributedBackends, DistributedSettings};
use crate::engine::{Evaluator, PropertyEvaluator};
use crate::errors::AnyCodedError;

#[napi(custom_finalize)]
pub struct KafkaAdapter {
    core: AdapterCore,
    /// Fixed at construction, but for brokers a kafkajs instance reveals only at `start()`.
    settings: Mutex<DistributedSettings>,
    backends: Arc<DistributedBackends>,
}

impl ObjectFinalize for KafkaAdapter {
    fn finalize(mut self, env: Env) -> Result<()> {
        (self.core.runtime.closer())();
        self.core.runtime.release(&env)
    }
}

#[napi]
impl KafkaAdapter {
    /// Checks every option and blueprint at once (nothing connects yet); throws an Error
    /// with `code` ERR_INVALID_OPTIONS, ERR_INVALID_REGISTRY or ERR_INVALID_BLUEPRINT.
    #[napi(constructor, ts_args_type = "options: KafkaAdapterOptions")]
    pub fn new(env: Env, options: Object) -> Result<Self> {
        let mut problems = Vec::new();
        let mut config = engine_config(options.get::<f64>("concurrency")?, &mut problems);
        let settings = read_distributed_settings(&options, &mut problems)?;
        if let Some(settings) = &settings {
            config.shutdown_grace = settings.transport.close_grace;
        }
        let backends = Arc::new(DistributedBackends::new());
        let wired = Arc::clone(&backends);
        let core = AdapterCore::new(
            &env,
            &options,
            config,
            settings.as_ref().is_none_or(|s| s.worker),
            |events, evaluator| {
                let evaluator: Arc<dyn Evaluator> = evaluator.unwrap_or_else(|| Arc::new(PropertyEvaluator));
                wired.engine_backends(events, evaluator)
            },
            problems,
        )
        .map_err(|invalid| coded(&env, &invalid))?;
        let Some(mut settings) = settings else {
            // Unreachable in practice: missing settings always add a problem above.
            let invalid = InvalidOptions {
                code: "ERR_INVALID_OPTIONS",
                problems: vec!["kafka, cassandra and coordinationStore are required".into()],
            };
            return Err(coded(&env, &invalid));
        };
        // The transport counts rebalances, lag and dead letters in the adapter's registry;
        // the timer service's counters are read from the backends at each scrape.
        settings.transport.metrics = core.metrics.metrics();
        settings.kafka.logger = core.logger.clone();
        let timers = Arc::downgrade(&backends);
        core.metrics
            .metrics()
            .watch_timers(Arc::new(move || timers.upgrade()?.timer_metrics()));
        let mut warnings = core.warnings();
        warnings.extend(settings.kafka.warnings());
        core.report_warnings(&env, warnings)?;
        Ok(KafkaAdapter {
            core,
            settings: Mutex::new(settings),
            backends,
        })
    }

    /// Connects to Kafka, Cassandra and Redis (rejecting with ERR_KAFKA_UNREACHABLE,
    /// ERR_CASSANDRA_UNREACHABLE or ERR_REDIS_UNREACHABLE when one does not answer), then
    /// starts consuming jobs unless `worker: false`.
    #[napi]
    pub fn start<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let engine = Arc::clone(&self.core.engine);
        let backends = Arc::clone(&self.backends);
        let settings = self.settings().clone();
        let metrics = Arc::clone(&self.core.metrics);
        spawn_coded(env, async move {
            backends.connect(&settings).await?;
            if settings.worker {
                if let Err(error) = engine.start() {
                    let _ = backends.close().await;
                    return Err(AnyCodedError::from(error));
                }
            }
            if let Err(error) = metrics.open().await {
                engine.stop().await;
                let _ = backends.close().await;
                return Err(AnyCodedError::from(error));
            }
            Ok(())
        })
    }

    /// The brokers to connect to from the next `start()` on: index.js passes those a kafkajs
    /// `Kafka` instance's admin API names (the instance keeps its own list private). Not
    /// public: index.js takes it off the class.
    #[napi(js_name = "__useDiscoveredBrokers")]
    pub fn use_discovered_brokers(&self, env: Env, brokers: Vec<String>) -> Result<()> {
        let mut settings = self.settings();
        let mut kafka = settings.kafka.clone();
        kafka.brokers = brokers;
        kafka.validate().map_err(|error| {
            let invalid = InvalidOptions {
                code: "ERR_INVALID_OPTIONS",
                problems: vec![format!("the brokers the kafkajs instance named: {error}")],
            };
            coded(&env, &invalid)
        })?;
        settings.kafka = kafka;
        Ok(())
    }

    fn settings(&self) -> std::sync::MutexGuard<'_, DistributedSettings> {
        self.settings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops fetching, lets running nodes finish (then aborts them through their
    /// AbortSignal), commits, leaves the group and closes every client.
    #[napi]
    pub fn stop<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let engine = Arc::clone(&self.core.engine);
        let backends = Arc::clone(&self.backends);
        let close_js = self.core.runtime.closer();
        let metrics = Arc::clone(&self.core.metrics);
        spawn_coded(env, async move {
            engine.stop().await;
            metrics.close().await;
            let closed = backends.close().await;
            close_js();
            closed
        })
    }

    /// The engine and the backends it runs on (for the reconciler).
    pub(crate) fn engine_and_backends(&self) -> (Arc<crate::engine::Engine>, Arc<DistributedBackends>) {
        (Arc::clone(&self.core.engine), Arc::clone(&self.backends))
    }

    /// The jobs-topic partitions this worker consumes now (they move when workers join
    /// or leave the group).
    #[napi]
    pub fn assigned_partitions(&self) -> Vec<i32> {
        self.backends.assigned_partitions()
    }

    /// Counters of this worker's timer service (planned, fired, late, invalid,
    /// cancelled...); `null` before `start()`, after `stop()`, or with `worker: false`.
    #[napi]
    pub fn timer_metrics(&self) -> Option<TimerMetrics> {
        self.backends.timer_metrics().map(TimerMetrics::from)
    }

    /// The same as `metrics()` (every family, the timer service's among them); kept
    /// for code written before `metrics()`.
    #[napi]
    pub fn prometheus_metrics(&self) -> String {
        self.core.metrics.render()
    }
}

/// Counters of a worker's timer service since it started.
#[napi(object)]
pub struct TimerMetrics {
    /// Valid schedules read (new or replacing), including re-reads after a restart or rebalance.
    pub planned: f64,
    /// Schedules that replaced a pending one with the same key.
    pub replaced: f64,
    /// Schedules delivered to their target.
    pub fired: f64,
    /// Of `fired`, those delivered later than due time + `timerGraceMs`.
    pub late: f64,
    /// Messages on the schedules topic that are not valid schedules (never fired).
    pub invalid: f64,
    /// Pending schedules cancelled by a tombstone.
    pub cancelled: f64,
    /// Fire attempts that failed and were retried.
    pub fire_errors: f64,
    /// Timers waiting now on this worker.
    pub pending: f64,
    /// Schedules-topic partitions this worker owns.
    pub partitions: f64,
    /// Of those, partitions still being read from the beginning (their timers wait).
    pub loading_partitions: f64,
    /// Why the most recent invalid schedule was refused, with its position.
    pub last_invalid: Option<String>,
    /// librdkafka's most recent error from the timer service's clients.
    pub last_error: Option<String>,
}

impl From<crate::kafka::SchedulerSnapshot> for TimerMetrics {
    fn from(s: crate::kafka::SchedulerSnapshot) -> Self {
        TimerMetrics {
            planned: s.planned as f64,
            replaced: s.replaced as f64,
            fired: s.fired as f64,
            late: s.late as f64,
            invalid: s.invalid as f64,
            cancelled: s.cancelled as f64,
            fire_errors: s.fire_errors as f64,
            pending: s.pending as f64,
            partitions: s.partitions as f64,
            loading_partitions: s.loading_partitions as f64,
            last_invalid: s.last_invalid,
            last_error: s.last_error,
        }
    }
}

run_api!(KafkaAdapter);
