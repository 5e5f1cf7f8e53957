//! `InMemoryAdapter`: the whole engine on the in-process backends, for users' unit tests
//! and trial runs. Same API as `KafkaAdapter`.

use std::sync::Arc;

use super::adapter_core::{engine_config, AdapterCore};
use super::errors::coded;
use crate::engine::{Evaluator, PropertyEvaluator};
use crate::memory::MemoryBackend;
use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;

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
        core.report_warnings(&env, core.warnings())?;
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
}

run_api!(InMemoryAdapter);
