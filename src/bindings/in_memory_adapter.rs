//! `InMemoryAdapter`: the whole engine on the in-process backends, for users' unit tests
//! and trial runs. Same API as `KafkaAdapter`.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;
use serde_json::{Map, Value};

use super::adapter_core::{
    check_event_name, emit_warnings, engine_config, AdapterCore, StartRunOptions, WaitOptions,
};
use super::errors::coded;
use crate::engine::{Evaluator, PropertyEvaluator};
use crate::memory::MemoryBackend;

#[napi(custom_finalize)]
pub struct InMemoryAdapter {
    core: AdapterCore,
}

impl ObjectFinalize for InMemoryAdapter {
    fn finalize(mut self, env: Env) -> Result<()> {
        (self.core.runtime.closer())();
        self.core.runtime.release(&env)
    }
}

#[napi]
impl InMemoryAdapter {
    /// Validates everything at once; throws an Error with `code` ERR_INVALID_OPTIONS,
    /// ERR_INVALID_REGISTRY or ERR_INVALID_BLUEPRINT listing every problem.
    #[napi(constructor, ts_args_type = "options: InMemoryAdapterOptions")]
    pub fn new(env: Env, options: Object) -> Result<Self> {
        let mut problems = Vec::new();
        let config = engine_config(options.get::<f64>("concurrency")?, &mut problems);
        let memory = within_runtime_if_available(MemoryBackend::new);
        let core = AdapterCore::new(
            &env,
            &options,
            config,
            false,
            |events, evaluator| {
                let evaluator: Arc<dyn Evaluator> = evaluator.unwrap_or_else(|| Arc::new(PropertyEvaluator));
                memory.backends_with(evaluator, events)
            },
            problems,
        )
        .map_err(|invalid| coded(&env, &invalid))?;
        emit_warnings(&env, core.warnings())?;
        Ok(InMemoryAdapter { core })
    }

    /// Starts processing jobs.
    #[napi]
    pub fn start<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        self.core.start(env)
    }

    /// Stops taking jobs; running nodes get a grace period, then their AbortSignal fires.
    #[napi]
    pub fn stop<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        self.core.stop(env)
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

    /// Resolves when the run is `completed`, `failed` or `awaiting`.
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

    /// Adds a listener for `run:start`, `node:start`, `node:finish`, `node:retry`,
    /// `node:error` or `run:finish`.
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
