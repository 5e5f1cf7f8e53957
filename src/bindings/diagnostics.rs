//! `measureNodeCalls()`: how many node calls per second the Rust → JS → Rust path
//! carries on this machine, through the same invoker the adapters use.

use std::sync::Arc;
use std::time::Instant;

use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;
use serde_json::{Map, Value};

use super::js_nodes::{JsRuntime, NodeLogging, UserCode};
use crate::engine::{AbortSignal, NodeCall, NodeInvoker};

#[napi(object)]
pub struct MeasureNodeCallsOptions {
    /// How many calls in total (default 100000).
    pub calls: Option<u32>,
    /// How many calls are awaited at once (default 1: strictly sequential).
    pub in_flight: Option<u32>,
}

#[napi(object)]
pub struct NodeCallMeasurement {
    pub calls: u32,
    pub in_flight: u32,
    pub failed: u32,
    pub seconds: f64,
    pub calls_per_second: f64,
}

/// Calls `implementation` (a node function, `async (ctx) => NodeResult`) `calls` times
/// from Rust with `inFlight` calls outstanding, and reports the rate.
#[napi(ts_args_type = "implementation: NodeFunction, options?: MeasureNodeCallsOptions")]
pub fn measure_node_calls<'env>(
    env: &'env Env,
    implementation: Function,
    options: Option<MeasureNodeCallsOptions>,
) -> Result<PromiseRaw<'env, NodeCallMeasurement>> {
    let calls = options.as_ref().and_then(|o| o.calls).unwrap_or(100_000).max(1);
    let in_flight = options.as_ref().and_then(|o| o.in_flight).unwrap_or(1).max(1);
    let mut registry = Object::new(env)?;
    registry.set_named_property("measured", implementation)?;
    let logging = NodeLogging {
        logger: crate::engine::Logger::default(),
        user: None,
    };
    let code = UserCode {
        registry,
        implementations: ["measured".to_string()].into(),
        dependencies: None,
        evaluator: None,
        middleware: None,
        event_bus: None,
    };
    let runtime = JsRuntime::new(env, code, true, logging)?;
    let invoker = Arc::clone(&runtime.invoker);
    let close_js = runtime.closer();
    let context = Arc::new(Map::new());
    env.spawn_future_with_callback(
        async move {
            // One task per call in flight, each calling in turn: how the engine calls
            // nodes (a task per job), so the figure is not one task's polling ceiling.
            let started = Instant::now();
            let lanes: Vec<_> = (0..in_flight)
                .map(|lane| {
                    let invoker = Arc::clone(&invoker);
                    let context = Arc::clone(&context);
                    let numbers = (lane..calls).step_by(in_flight as usize);
                    let lane_calls = numbers.len() as u32;
                    let task = tokio::spawn(async move {
                        let mut failed = 0u32;
                        for n in numbers {
                            let call = NodeCall {
                                run_id: "measure".into(),
                                blueprint_id: "measure".into(),
                                node_id: "measured".into(),
                                uses: "measured".into(),
                                attempt: 1,
                                last_attempt: true,
                                input: Some(Value::from(n)),
                                prepared: None,
                                params: Value::Object(Map::new()),
                                context: Arc::clone(&context),
                                abort: AbortSignal::new(),
                                trace: None,
                            };
                            if invoker.invoke(call).await.is_err() {
                                failed += 1;
                            }
                        }
                        failed
                    });
                    (task, lane_calls)
                })
                .collect();
            let mut failed = 0u32;
            for (task, lane_calls) in lanes {
                // A lane that panicked counts all its calls as failed.
                failed += task.await.unwrap_or(lane_calls);
            }
            let seconds = started.elapsed().as_secs_f64();
            close_js();
            Ok(NodeCallMeasurement {
                calls,
                in_flight,
                failed,
                seconds,
                calls_per_second: calls as f64 / seconds,
            })
        },
        move |env, measurement| {
            let mut runtime = runtime;
            runtime.release(env)?;
            Ok(measurement)
        },
    )
}
