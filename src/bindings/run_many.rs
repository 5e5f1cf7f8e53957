//! Many runs of one blueprint at once (Faust's `join` and `map`): `runMany` resolves with
//! every result in input order, `runEach` yields `{ index, result }` as runs finish.

use std::sync::Arc;

use futures::StreamExt;
use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, Mutex};

use super::adapter_core::run_result_json;
use super::errors::{coded, InvalidArgument};
use super::json::spawn_json;
use crate::engine::{Engine, StartOptions};

const DEFAULT_CONCURRENCY: u32 = 16;

#[napi(object)]
#[derive(Default)]
pub struct RunManyOptions {
    /// Runs in progress at once, default 16.
    pub concurrency: Option<u32>,
    /// Per run: reject (runMany) or yield an error entry (runEach) after this many ms.
    pub timeout_ms: Option<u32>,
}

fn read(env: &Env, options: Option<RunManyOptions>) -> Result<(usize, Option<std::time::Duration>)> {
    let options = options.unwrap_or_default();
    let concurrency = options.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if concurrency == 0 {
        return Err(coded(
            env,
            &InvalidArgument("options.concurrency = 0: expected at least 1".into()),
        ));
    }
    let timeout = options
        .timeout_ms
        .map(|ms| std::time::Duration::from_millis(u64::from(ms)));
    Ok((concurrency as usize, timeout))
}

pub fn run_many<'env>(
    env: &'env Env,
    engine: Arc<Engine>,
    blueprint_id: String,
    inputs: Vec<Map<String, Value>>,
    options: Option<RunManyOptions>,
) -> Result<PromiseRaw<'env, Unknown<'env>>> {
    let (concurrency, timeout) = read(env, options)?;
    spawn_json(env, async move {
        let results: Vec<_> = futures::stream::iter(inputs)
            .map(|input| {
                let (engine, blueprint_id) = (engine.clone(), blueprint_id.clone());
                async move {
                    engine
                        .run(&blueprint_id, input, StartOptions::default(), timeout)
                        .await
                }
            })
            .buffered(concurrency)
            .collect()
            .await;
        let mut out = Vec::with_capacity(results.len());
        for result in results {
            out.push(run_result_json(&result?));
        }
        Ok::<_, crate::engine::EngineError>(Value::Array(out))
    })
}

/// The async iterator `runEach` returns.
#[napi(async_iterator)]
pub struct RunResults {
    finished: Arc<Mutex<mpsc::Receiver<Value>>>,
}

#[napi]
impl AsyncGenerator for RunResults {
    type Yield = Value;
    type Next = ();
    type Return = ();

    fn next(
        &mut self,
        _value: Option<()>,
    ) -> impl std::future::Future<Output = Result<Option<Value>>> + Send + 'static {
        let finished = self.finished.clone();
        async move { Ok(finished.lock().await.recv().await) }
    }
}

pub fn run_each(
    env: &Env,
    engine: Arc<Engine>,
    blueprint_id: String,
    inputs: Vec<Map<String, Value>>,
    options: Option<RunManyOptions>,
) -> Result<RunResults> {
    let (concurrency, timeout) = read(env, options)?;
    let (sender, receiver) = mpsc::channel(concurrency.max(1));
    napi::bindgen_prelude::spawn(async move {
        let mut finishing = futures::stream::iter(inputs.into_iter().enumerate())
            .map(|(index, input)| {
                let (engine, blueprint_id) = (engine.clone(), blueprint_id.clone());
                async move {
                    let outcome = engine.run(&blueprint_id, input, StartOptions::default(), timeout).await;
                    match outcome {
                        Ok(result) => json!({ "index": index, "result": run_result_json(&result) }),
                        Err(error) => json!({ "index": index, "error": { "code": error.code(), "message": error.to_string() } }),
                    }
                }
            })
            .buffer_unordered(concurrency);
        while let Some(entry) = finishing.next().await {
            if sender.send(entry).await.is_err() {
                return; // The iterator was dropped: stop starting runs.
            }
        }
    });
    Ok(RunResults {
        finished: Arc::new(Mutex::new(receiver)),
    })
}
