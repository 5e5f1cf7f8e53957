//! Turning our coded errors into JS `Error`s whose `code` is the stable `ERR_*` string.
//! napi's own async path can only reject with its status names, so the error object is
//! built here, on the JS thread, and handed back as the rejection.

use std::future::Future;

use napi::bindgen_prelude::*;
use napi::{Env, JsValue};

use crate::errors::{CodedError, ErrorDetails};

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

/// The name every error of the addon carries; index.js gives them the `FlowcraftNativeError`
/// prototype, so `instanceof` works too.
const ERROR_NAME: &str = "FlowcraftNativeError";

fn to_js_error(env: &Env, error: &dyn CodedError) -> Error {
    let build = || -> Result<Error> {
        let object = js_error(env, Some(error.code()), &error.to_string(), &error.details())?;
        Ok(Error::from(object.to_unknown()))
    };
    build().unwrap_or_else(|e| e)
}

/// An `Error` with `name`, `code`, the details that apply and, as `cause`, the error
/// underneath (a backend's coded error, then the client library's), built the same way.
fn js_error<'env>(
    env: &'env Env,
    code: Option<&str>,
    message: &str,
    details: &ErrorDetails,
) -> Result<Object<'env>> {
    let mut object = env.create_error(Error::from_reason(message.to_string()))?;
    object.set_named_property("name", ERROR_NAME)?;
    match code {
        Some(code) => object.set_named_property("code", code)?,
        // napi gives every error it creates a status `code` (GenericFailure): an error
        // without a code of its own has none.
        None => {
            object.delete_named_property("code")?;
        }
    }
    let fields = [
        ("runId", &details.run_id),
        ("nodeId", &details.node_id),
        ("topic", &details.topic),
        ("table", &details.table),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            object.set_named_property(name, value.as_str())?;
        }
    }
    if let Some(cause) = &details.cause {
        let mut inner = js_error(env, cause.code.as_deref(), &cause.message, &cause.details)?;
        // A client library's error is not ours: plain `Error`, its own code if any.
        if !cause.code.as_deref().is_some_and(|code| code.starts_with("ERR_")) {
            inner.set_named_property("name", "Error")?;
        }
        object.set_named_property("cause", inner)?;
    }
    Ok(object)
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
