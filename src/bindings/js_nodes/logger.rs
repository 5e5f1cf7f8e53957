//! `JsLogSink`: the engine's log lines to the user's Flowcraft-shaped `logger`
//! (`debug`, `info`, `warn`, `error`, each `(message, context)`), batched onto the JS
//! thread like events. It does not keep Node running.

use napi::bindgen_prelude::*;
use napi::Env;
use serde::Serialize;
use serde_json::{Map, Value};

use super::batched_call::BatchedJsCall;
use crate::engine::log::{Level, LogSink};

/// `(logger) => (batchJson) => ...`: each line calls the logger's method for its level;
/// a logger that throws loses that line, never the work being logged.
const DELIVER_JS: &str = r#"(function (logger) {
  return function deliverLogLines(batch) {
    for (const line of JSON.parse(batch)) {
      try {
        logger[line.level](line.message, line.context)
      } catch (_) {}
    }
  }
})"#;

pub const LOGGER_METHODS: [&str; 4] = ["debug", "info", "warn", "error"];

#[derive(Serialize)]
struct Line<'a> {
    level: &'static str,
    message: &'a str,
    context: &'a Map<String, Value>,
}

pub struct JsLogSink {
    lines: BatchedJsCall,
}

impl JsLogSink {
    /// `logger` was checked to have the four methods (`logger_problems`).
    pub fn new(env: &Env, logger: Object) -> Result<Self> {
        let factory: Function<Object, Function<String, ()>> = env.run_script(DELIVER_JS)?;
        let deliver = factory.call(logger)?;
        Ok(JsLogSink {
            lines: BatchedJsCall::new(env, deliver, false)?,
        })
    }
}

impl LogSink for JsLogSink {
    fn write(&self, level: Level, message: &str, context: &Map<String, Value>) {
        // Best effort: a line that cannot be queued (the runtime is gone) is dropped.
        let _ = self.lines.push(&Line {
            level: level.name(),
            message,
            context,
        });
    }
}

/// What is wrong with a value given as `logger` (at `path`), if anything.
pub fn logger_problems(logger: &Object, path: &str) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for method in LOGGER_METHODS {
        let value: Unknown = logger.get_named_property(method)?;
        if value.get_type()? != ValueType::Function {
            problems.push(format!(
                "{path}.{method} is not a function: a logger has debug, info, warn and error (message, context)"
            ));
        }
    }
    Ok(problems)
}
