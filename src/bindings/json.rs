//! JSON into JS through `JSON.parse`, on the JS thread. Setting properties one by one
//! would run the `__proto__` setter for a context key named `__proto__`; `JSON.parse`
//! creates it as an own property, so no prototype is ever touched.

use std::future::Future;

use napi::bindgen_prelude::*;
use napi::Env;
use serde_json::Value;

use super::errors::coded;
use crate::errors::CodedError;

pub fn parse_json<'env>(env: &'env Env, text: &str) -> Result<Unknown<'env>> {
    let json: Object = env.get_global()?.get_named_property("JSON")?;
    let parse: Function<&str, Unknown> = json.get_named_property("parse")?;
    parse.call(text)
}

/// Like `spawn_coded`, for results that are JSON documents.
pub fn spawn_json<'env, E, F>(env: &'env Env, future: F) -> Result<PromiseRaw<'env, Unknown<'env>>>
where
    E: CodedError + Send + 'static,
    F: Future<Output = std::result::Result<Value, E>> + Send + 'static,
{
    env.spawn_future_with_callback(
        async move { Ok(future.await.map(|value| value.to_string())) },
        |env, outcome| match outcome {
            Ok(text) => parse_json(env, &text),
            Err(error) => Err(coded(env, &error)),
        },
    )
}
