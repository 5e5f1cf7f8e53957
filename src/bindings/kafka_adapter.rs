//! `KafkaAdapter`: the engine across worker processes, with jobs on Kafka, state in
//! Cassandra and coordination in Redis. Same API as `InMemoryAdapter`.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;
use serde_json::{Map, Value};

use super::adapter_core::{
    check_event_name, emit_warnings, engine_config, AdapterCore, InvalidOptions, StartRunOptions, WaitOptions,
};
use super::errors::{coded, spawn_coded};
use super::kafka_options::read_distributed_settings;
use crate::adapter::distributed::{DistributedBackends, DistributedSettings};
use crate::engine::{Evaluator, PropertyEvaluator};
use crate::errors::AnyCodedError;

#[napi(custom_finalize)]
pub struct KafkaAdapter {
    core: AdapterCore,
    settings: DistributedSettings,
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
        let Some(settings) = settings else {
            // Unreachable in practice: missing settings always add a problem above.
            let invalid = InvalidOptions {
                code: "ERR_INVALID_OPTIONS",
                problems: vec!["kafka, cassandra and coordinationStore are required".into()],
            };
            return Err(coded(&env, &invalid));
        };
        emit_warnings(&env, core.warnings())?;
        Ok(KafkaAdapter {
            core,
            settings,
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
        let settings = self.settings.clone();
        spawn_coded(env, async move {
            backends.connect(&settings).await?;
            if settings.worker {
                if let Err(error) = engine.start() {
                    let _ = backends.close().await;
                    return Err(AnyCodedError::from(error));
                }
            }
            Ok(())
        })
    }

    /// Stops fetching, lets running nodes finish (then aborts them through their
    /// AbortSignal), commits, leaves the group and closes every client.
    #[napi]
    pub fn stop<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let engine = Arc::clone(&self.core.engine);
        let backends = Arc::clone(&self.backends);
        let close_js = self.core.runtime.closer();
        spawn_coded(env, async move {
            engine.stop().await;
            let closed = backends.close().await;
            close_js();
            closed
        })
    }

    /// Starts a run (cast) and resolves with its run id.
    #[napi(
        ts_args_type = "blueprintId: string, initialContext?: Record<string, any>, options?: StartRunOptions"
    )]
    pub fn start_run<'env>(
        &self,
        env: &'env Env,
        blueprint_id: String,
        initial_context: Option<Map<String, Value>>,
        options: Option<StartRunOptions>,
    ) -> Result<PromiseRaw<'env, String>> {
        self.core.start_run(env, blueprint_id, initial_context, options)
    }

    /// Resolves when the run is `completed`, `failed` or `awaiting`, from any process.
    #[napi(ts_return_type = "Promise<RunResult>")]
    pub fn wait_for_run<'env>(
        &self,
        env: &'env Env,
        run_id: String,
        options: Option<WaitOptions>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        self.core.wait_for_run(env, run_id, options)
    }

    /// Starts a run and resolves with its result (ask).
    #[napi(
        ts_args_type = "blueprintId: string, initialContext?: Record<string, any>, options?: StartRunOptions",
        ts_return_type = "Promise<RunResult>"
    )]
    pub fn run<'env>(
        &self,
        env: &'env Env,
        blueprint_id: String,
        initial_context: Option<Map<String, Value>>,
        options: Option<StartRunOptions>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        self.core.run(env, blueprint_id, initial_context, options)
    }

    /// Resumes a run paused on a `wait` node, following the edges of `action`.
    #[napi(ts_args_type = "runId: string, action: string, output?: any")]
    pub fn resume_with_action<'env>(
        &self,
        env: &'env Env,
        run_id: String,
        action: String,
        output: Option<Value>,
    ) -> Result<PromiseRaw<'env, ()>> {
        self.core.resume_with_action(env, run_id, action, output)
    }

    /// Every result the run published so far, oldest first.
    #[napi(ts_return_type = "Promise<PublishedResult[]>")]
    pub fn published_results<'env>(
        &self,
        env: &'env Env,
        run_id: String,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        self.core.published_results(env, run_id)
    }

    /// The jobs-topic partitions this worker consumes now (they move when workers join
    /// or leave the group).
    #[napi]
    pub fn assigned_partitions(&self) -> Vec<i32> {
        self.backends.assigned_partitions()
    }

    /// Adds a listener for `run:start`, `node:start`, `node:finish`, `node:retry`,
    /// `node:error` or `run:finish` (events of the jobs this process handles).
    #[napi(ts_args_type = "name: FlowcraftEventName, listener: (event: FlowcraftEvent) => void")]
    pub fn on(&self, env: Env, name: String, listener: Function) -> Result<()> {
        check_event_name(&name)?;
        self.core.runtime.on(&env, &name, listener)
    }

    /// Removes a listener added with `on`.
    #[napi(ts_args_type = "name: FlowcraftEventName, listener: (event: FlowcraftEvent) => void")]
    pub fn off(&self, env: Env, name: String, listener: Function) -> Result<()> {
        check_event_name(&name)?;
        self.core.runtime.off(&env, &name, listener)
    }
}
