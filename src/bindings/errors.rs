//! Turning our coded errors into JS `Error`s whose `code` is the stable `ERR_*` string.
//! napi's own async path can only reject with its status names, so the error object is
//! built here, on the JS thread, and handed back as the rejection.

use std::future::Future;

use napi::bindgen_prelude::*;
use napi::{Env, JsValue};

use crate::errors::CodedError;

/// Runs `future` on the addon's runtime; resolves with its value or rejects with a JS
/// `Error` carrying `code` and the message.
pub fn spawn_coded<'env, T, E, F>(env: &'env Env, future: F) -> Result<PromiseRaw<'env, T>>
where
    T: ToNapiValue + Send + 'static,
    E: CodedError + Send + 'static,
    F: Future<Output = std::result::Result<T, E>> + Send + 'static,
{
    env.spawn_future_with_callback(async move { Ok(future.await) }, |env, outcome| match outcome {
        Ok(value) => Ok(value),
        Err(error) => Err(to_js_error(env, &error)),
    })
}

/// A thrown (synchronous) coded error, for constructors and option parsing.
pub fn coded(env: &Env, error: &dyn CodedError) -> Error {
    to_js_error(env, error)
}

fn to_js_error(env: &Env, error: &dyn CodedError) -> Error {
    let build = || -> Result<Error> {
        let mut object = env.create_error(Error::from_reason(error.to_string()))?;
        object.set_named_property("code", error.code())?;
        Ok(Error::from(object.to_unknown()))
    };
    build().unwrap_or_else(|e| e)
}

/// A bad argument to a method (`ERR_INVALID_ARG`); the message names it.
#[derive(Debug)]
pub struct InvalidArgument(pub String);

impl std::fmt::Display for InvalidArgument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidArgument {}

impl CodedError for InvalidArgument {
    fn code(&self) -> &'static str {
        "ERR_INVALID_ARG"
    }
}
