//! What `InMemoryAdapter` and `KafkaAdapter` share: reading `runtimeOptions`, the engine,
//! the JS runtime, and the Flowcraft-shaped run API they both expose.

use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::Env;
use serde_json::{json, Map, Value};

use super::errors::{coded, spawn_coded, InvalidArgument};
use super::js_nodes::{registry_entries, JsRuntime, NodeLogging, UserCode};
use super::json::{iso_8601_utc, spawn_json};
use super::logging_options::{read_logger, ReadLogger};
use super::metrics_options::read_metrics_listen;
use super::runtime_options::read_runtime_options;
use crate::adapter::metrics_service::MetricsService;
use crate::engine::run::RunStatus;
use crate::engine::{
    Engine, EngineBackends, EngineConfig, EngineError, EventSink, IfRunExists, Logger, RunResult,
    StartOptions, VersionSeed,
};
use crate::errors::{AnyCodedError, CodedError};

/// Thrown at construction: every problem with the options, listed at once.
#[derive(Debug)]
pub struct InvalidOptions {
    pub code: &'static str,
    pub problems: Vec<String>,
}

impl std::fmt::Display for InvalidOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid adapter options ({} problem", self.problems.len())?;
        if self.problems.len() != 1 {
            write!(f, "s")?;
        }
        write!(f, "):\n  - {}", self.problems.join("\n  - "))
    }
}

impl std::error::Error for InvalidOptions {}

impl CodedError for InvalidOptions {
    fn code(&self) -> &'static str {
        self.code
    }
}

/// The engine and its JS runtime, built from the adapter options.
pub struct AdapterCore {
    pub engine: Arc<Engine>,
    pub runtime: JsRuntime,
    /// What every layer records into, and its `/metrics` listener (`metrics` option).
    pub metrics: Arc<MetricsService>,
    /// Where every layer's diagnostics go (`logger`, `logLevel`).
    pub logger: Logger,
    /// Lines go to the user's logger rather than stderr.
    user_logger: bool,
    /// `runtimeOptions` keys set and not acted on (said with the other warnings).
    unhonoured: Vec<String>,
}

impl AdapterCore {
    /// `backends` receives the JS event sink and evaluator (if any) and returns the
    /// engine's backends.
    pub fn new(
        env: &Env,
        options: &Object,
        mut config: EngineConfig,
        keep_alive: bool,
        backends: impl FnOnce(Arc<dyn EventSink>, Option<Arc<dyn crate::engine::Evaluator>>) -> EngineBackends,
        mut problems: Vec<String>,
    ) -> std::result::Result<Self, InvalidOptions> {
        let build = || -> Result<std::result::Result<AdapterCore, InvalidOptions>> {
            let listen = read_metrics_listen(options, &mut problems)?;
            let ReadLogger { logger, user } = read_logger(env, options, &mut problems)?;
            let user_given = user.is_some();
            let metrics = Arc::new(MetricsService::new(listen));
            let runtime_options = read_runtime_options(env, options, &mut problems)?;
            let Some(mut runtime_options) = runtime_options else {
                return Ok(Err(invalid("ERR_INVALID_OPTIONS", problems)));
            };
            let unhonoured = std::mem::take(&mut runtime_options.unhonoured);
            config.strict = runtime_options.strict;
            let (implementations, registry_problems) = registry_entries(&runtime_options.registry)?;
            let registry_failed = !registry_problems.is_empty();
            problems.extend(registry_problems);
            let code = UserCode {
                registry: runtime_options.registry,
                implementations,
                dependencies: runtime_options.dependencies,
                evaluator: runtime_options.evaluator,
                middleware: runtime_options.middleware,
                event_bus: runtime_options.event_bus,
            };
            let mut runtime = JsRuntime::new(
                env,
                code,
                keep_alive,
                NodeLogging {
                    logger: logger.clone(),
                    user,
                },
            )?;
            let events: Arc<dyn EventSink> = runtime.events.clone();
            let evaluator = runtime
                .evaluator
                .clone()
                .map(|e| e as Arc<dyn crate::engine::Evaluator>);
            let mut engine_backends = backends(events, evaluator);
            engine_backends.telemetry = metrics.metrics();
            engine_backends.logger = logger.clone();
            let engine = Engine::new(
                runtime_options.blueprints,
                runtime.invoker.clone(),
                engine_backends,
                config,
            );
            let code = if registry_failed {
                "ERR_INVALID_REGISTRY"
            } else {
                "ERR_INVALID_OPTIONS"
            };
            let refused = match engine {
                Err(EngineError::InvalidBlueprints { issues }) => {
                    problems.extend(issues.iter().map(|issue| issue.to_string()));
                    invalid("ERR_INVALID_BLUEPRINT", problems)
                }
                Err(other) => {
                    problems.push(other.to_string());
                    invalid(code, problems)
                }
                Ok(_) if !problems.is_empty() => invalid(code, problems),
                Ok(engine) => {
                    return Ok(Ok(AdapterCore {
                        engine: Arc::new(engine),
                        runtime,
                        metrics,
                        logger,
                        user_logger: user_given,
                        unhonoured,
                    }))
                }
            };
            // The runtime holds references to the user's objects: give them back.
            (runtime.closer())();
            runtime.release(env)?;
            Ok(Err(refused))
        };
        match build() {
            Ok(result) => result,
            Err(error) => Err(invalid("ERR_INVALID_OPTIONS", vec![error.reason.clone()])),
        }
    }

    /// Problems that did not prevent loading, e.g. a `uses` with no implementation
    /// (the run fails at that node, as in Flowcraft).
    pub fn warnings(&self) -> Vec<String> {
        let engine = self.engine.warnings().iter().map(|w| w.to_string());
        engine.chain(self.unhonoured.iter().cloned()).collect()
    }

    pub fn start<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let engine = Arc::clone(&self.engine);
        let metrics = Arc::clone(&self.metrics);
        spawn_coded(env, async move {
            engine.start().map_err(AnyCodedError::from)?;
            if let Err(error) = metrics.open().await {
                engine.stop().await;
                return Err(AnyCodedError::from(error));
            }
            Ok(())
        })
    }

    pub fn stop<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let engine = Arc::clone(&self.engine);
        let metrics = Arc::clone(&self.metrics);
        let close_js = self.runtime.closer();
        spawn_coded(env, async move {
            engine.stop().await;
            metrics.close().await;
            close_js();
            Ok::<(), EngineError>(())
        })
    }

    pub fn start_run<'env>(
        &self,
        env: &'env Env,
        blueprint_id: String,
        initial_context: Map<String, Value>,
        options: Option<StartRunOptions>,
    ) -> Result<PromiseRaw<'env, String>> {
        let engine = Arc::clone(&self.engine);
        let start = options
            .unwrap_or_default()
            .into_engine()
            .map_err(|e| coded(env, &e))?;
        spawn_coded(env, async move {
            engine.start_run(&blueprint_id, initial_context, start).await
        })
    }

    pub fn wait_for_run<'env>(
        &self,
        env: &'env Env,
        run_id: String,
        options: Option<WaitOptions>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let engine = Arc::clone(&self.engine);
        let timeout = options
            .and_then(|o| o.timeout_ms)
            .map(|ms| Duration::from_millis(ms as u64));
        spawn_json(env, async move {
            engine
                .wait_for_run(&run_id, timeout)
                .await
                .map(|r| run_result_json(&r))
        })
    }

    pub fn run<'env>(
        &self,
        env: &'env Env,
        blueprint_id: String,
        initial_context: Map<String, Value>,
        options: Option<StartRunOptions>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let engine = Arc::clone(&self.engine);
        let options = options.unwrap_or_default();
        let timeout = options.timeout_ms.map(|ms| Duration::from_millis(ms as u64));
        let start = options.into_engine().map_err(|e| coded(env, &e))?;
        spawn_json(env, async move {
            engine
                .run(&blueprint_id, initial_context, start, timeout)
                .await
                .map(|r| run_result_json(&r))
        })
    }

    pub fn resume_with_action<'env>(
        &self,
        env: &'env Env,
        run_id: String,
        action: String,
        output: Option<Value>,
    ) -> Result<PromiseRaw<'env, ()>> {
        let engine = Arc::clone(&self.engine);
        spawn_coded(env, async move {
            engine.resume_with_action(&run_id, &action, output).await
        })
    }

    pub fn resume<'env>(
        &self,
        env: &'env Env,
        run_id: String,
        data: crate::engine::resume::ResumeData,
        node_id: Option<String>,
    ) -> Result<PromiseRaw<'env, ()>> {
        let engine = Arc::clone(&self.engine);
        spawn_coded(env, async move {
            engine.resume(&run_id, data, node_id.as_deref()).await
        })
    }

    /// Resolves with `'cancelled'` when this call ended the run, `'already'` when it was
    /// cancelled before.
    pub fn cancel<'env>(
        &self,
        env: &'env Env,
        run_id: String,
        reason: Option<String>,
    ) -> Result<PromiseRaw<'env, String>> {
        let engine = Arc::clone(&self.engine);
        spawn_coded(env, async move {
            let reason = reason.unwrap_or_else(|| "Run cancelled".to_string());
            engine
                .cancel(&run_id, &reason)
                .await
                .map(|outcome| match outcome {
                    crate::engine::cancel::Cancelled::Now => "cancelled".to_string(),
                    crate::engine::cancel::Cancelled::Already => "already".to_string(),
                })
        })
    }

    pub fn published_results<'env>(
        &self,
        env: &'env Env,
        run_id: String,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let engine = Arc::clone(&self.engine);
        spawn_json(env, async move {
            let published = engine.published_results(&run_id).await?;
            Ok::<_, EngineError>(Value::Array(
                published
                    .iter()
                    .map(|p| {
                        let mut result =
                            json!({ "status": p.status.as_str(), "publishedAt": p.published_at_ms });
                        if let Some(reason) = &p.reason {
                            result["reason"] = reason.clone().into();
                        }
                        result
                    })
                    .collect(),
            ))
        })
    }
}

fn invalid(code: &'static str, problems: Vec<String>) -> InvalidOptions {
    InvalidOptions { code, problems }
}

pub(crate) fn run_result_json(result: &RunResult) -> Value {
    let mut value = json!({
        "runId": result.run_id,
        "status": result.status.as_str(),
        "context": result.context,
    });
    if let Some(reason) = &result.reason {
        value["reason"] = reason.clone().into();
    }
    if result.status == RunStatus::Failed {
        value["errors"] = json!([workflow_error(result)]);
    }
    value
}

/// A failed run's entry of FlowRuntime's `errors[]` (its WorkflowError): the reason as
/// the message, the failed node, whether its error was fatal, and when the run failed.
fn workflow_error(result: &RunResult) -> Value {
    let mut error = json!({
        "name": "FlowcraftError",
        "message": result.reason.clone().unwrap_or_else(|| format!("run '{}' failed", result.run_id)),
        "isFatal": result.failed_node.as_ref().is_some_and(|node| node.fatal),
        "timestamp": iso_8601_utc(result.published_at_ms),
    });
    if let Some(node) = &result.failed_node {
        error["nodeId"] = json!(node.node_id);
    }
    error
}

/// Options of `startRun` / `run`.
#[napi_derive::napi(object)]
#[derive(Default)]
pub struct StartRunOptions {
    /// Use this run id instead of a new UUID: 1 to 256 bytes, no control characters.
    pub run_id: Option<String>,
    /// With `runId`, when a run of that id exists: `'refuse'` (default) rejects with
    /// ERR_RUN_EXISTS and writes nothing; `'overwrite'` starts it again over its stored
    /// context.
    #[napi(ts_type = "'refuse' | 'overwrite'")]
    pub if_exists: Option<String>,
    /// Seed this `blueprintVersion` instead of the blueprint's `metadata.version`.
    pub blueprint_version: Option<String>,
    /// Seed no `blueprintVersion` key at all (a client that predates versions).
    pub omit_blueprint_version: Option<bool>,
    /// `run()` only: reject with ERR_WAIT_TIMEOUT after this many milliseconds.
    pub timeout_ms: Option<u32>,
    /// Continue the caller's trace: its W3C `traceparent` (for example filled by
    /// `propagation.inject` of `@opentelemetry/api`). Default: the run starts a trace.
    pub traceparent: Option<String>,
    /// The caller's W3C `tracestate`, carried with the trace.
    pub tracestate: Option<String>,
    /// Start the run at this instant (milliseconds since 1970, e.g. `date.getTime()`)
    /// instead of now, through the durable timer service. A past instant starts it now.
    pub at: Option<f64>,
    /// Refuse (ERR_INVALID_BLUEPRINT) a blueprint with a cycle, loops included, as
    /// FlowRuntime's `strict` run option does. `runtimeOptions.strict` refuses them all
    /// at construction.
    pub strict: Option<bool>,
}

impl StartRunOptions {
    fn into_engine(self) -> std::result::Result<StartOptions, InvalidArgument> {
        let at_ms = match self.at {
            None => None,
            Some(at) if (0.0..=8.64e15).contains(&at) => Some(at.ceil() as u64),
            Some(at) => {
                return Err(InvalidArgument(format!(
                    "options.at = {at}: expected milliseconds since 1970 (for example date.getTime())"
                )))
            }
        };
        let version = if self.omit_blueprint_version == Some(true) {
            VersionSeed::Omit
        } else if let Some(version) = self.blueprint_version {
            VersionSeed::Explicit(Some(version))
        } else {
            VersionSeed::FromBlueprint
        };
        let if_exists = match self.if_exists.as_deref() {
            None | Some("refuse") => IfRunExists::Refuse,
            Some("overwrite") => IfRunExists::Overwrite,
            Some(other) => {
                return Err(InvalidArgument(format!(
                    "options.ifExists = {other:?}: expected 'refuse' or 'overwrite'"
                )))
            }
        };
        let trace = match &self.traceparent {
            None => None,
            Some(value) => Some(
                crate::engine::trace::caller_refs(value, self.tracestate.clone(), None).ok_or_else(|| {
                    InvalidArgument(format!(
                        "options.traceparent = {value:?}: expected a W3C traceparent, 00-<32 hex>-<16 hex>-<2 hex>"
                    ))
                })?,
            ),
        };
        Ok(StartOptions {
            run_id: self.run_id,
            if_exists,
            version,
            at_ms,
            start_job_origin: None,
            trace,
            strict: self.strict == Some(true),
        })
    }
}

#[napi_derive::napi(object)]
pub struct WaitOptions {
    /// Reject with ERR_WAIT_TIMEOUT after this many milliseconds (default: wait forever).
    pub timeout_ms: Option<u32>,
}

const EVENT_NAMES: [&str; 6] = [
    "run:start",
    "node:start",
    "node:finish",
    "node:retry",
    "node:error",
    "run:finish",
];

/// `concurrency`: 1 runs one job at a time, oldest first; the default runs up to 64 at once.
pub fn engine_config(concurrency: Option<f64>, problems: &mut Vec<String>) -> EngineConfig {
    match concurrency {
        None => EngineConfig::default(),
        Some(n) if n >= 1.0 && n.fract() == 0.0 && n <= 100_000.0 => {
            let n = n as usize;
            if n == 1 {
                EngineConfig::sequential()
            } else {
                EngineConfig {
                    concurrency: n,
                    batch_max: n.min(256),
                    ..EngineConfig::default()
                }
            }
        }
        Some(n) => {
            problems.push(format!(
                "concurrency = {n}: expected a whole number from 1 to 100000"
            ));
            EngineConfig::default()
        }
    }
}

pub fn check_event_name(name: &str) -> Result<()> {
    if EVENT_NAMES.contains(&name) {
        return Ok(());
    }
    Err(Error::new(
        Status::InvalidArg,
        format!(
            "unknown event '{name}': expected one of {}",
            EVENT_NAMES.join(", ")
        ),
    ))
}

impl AdapterCore {
    /// Construction warnings: to the user's logger when one was given, else as Node
    /// process warnings.
    pub fn report_warnings(&self, env: &Env, warnings: Vec<String>) -> Result<()> {
        if !self.user_logger {
            return emit_warnings(env, warnings);
        }
        for warning in warnings {
            self.logger.warn(&warning, serde_json::Value::Null);
        }
        Ok(())
    }
}

pub fn emit_warnings(env: &Env, warnings: Vec<String>) -> Result<()> {
    if warnings.is_empty() {
        return Ok(());
    }
    let process: Object = env.get_global()?.get_named_property("process")?;
    let emit_warning: Function<String, ()> = process.get_named_property("emitWarning")?;
    for warning in warnings {
        emit_warning.apply(process, format!("flowcraft-kafka-native: {warning}"))?;
    }
    Ok(())
}
