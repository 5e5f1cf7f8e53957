//! The `logger` option (Flowcraft's ILogger, also read from `runtimeOptions.logger`) and
//! `logLevel`, shared by both adapters.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::Env;

use super::js_nodes::{logger_problems, JsLogSink};
use crate::engine::log::{parse_threshold, threshold_from_env, StderrSink, THRESHOLD_NAMES};
use crate::engine::Logger;

/// The adapter's logger: the user's (top-level `logger`, else `runtimeOptions.logger`)
/// or stderr, at `logLevel`, else `FLOWCRAFT_LOG`, else `info`. `user` is the user's
/// logger when lines go there (construction warnings then go there too).
pub struct ReadLogger<'env> {
    pub logger: Logger,
    /// The user's logger object, for `ctx.dependencies.logger`.
    pub user: Option<Object<'env>>,
}

pub fn read_logger<'env>(
    env: &Env,
    options: &Object<'env>,
    problems: &mut Vec<String>,
) -> Result<ReadLogger<'env>> {
    let threshold = match options.get::<Unknown>("logLevel")? {
        None => threshold_from_env(),
        Some(value) if value.get_type()? == ValueType::Undefined => threshold_from_env(),
        Some(value) if value.get_type()? == ValueType::String => {
            let text = unsafe { value.cast::<String>()? };
            parse_threshold(&text).unwrap_or_else(|| {
                problems.push(format!("logLevel = '{text}': expected {THRESHOLD_NAMES}"));
                threshold_from_env()
            })
        }
        Some(_) => {
            problems.push(format!("logLevel must be a string: {THRESHOLD_NAMES}"));
            threshold_from_env()
        }
    };
    let top = options.get::<Unknown>("logger")?;
    let nested = match options.get::<Object>("runtimeOptions").ok().flatten() {
        Some(runtime) => runtime.get::<Unknown>("logger")?,
        None => None,
    };
    let mut given = None;
    for (value, path) in [(top, "logger"), (nested, "runtimeOptions.logger")] {
        match value {
            Some(value) if value.get_type()? == ValueType::Object => {
                given = Some((unsafe { value.cast::<Object>()? }, path));
                break;
            }
            Some(value) if !matches!(value.get_type()?, ValueType::Undefined | ValueType::Null) => {
                problems.push(format!(
                    "{path} must be an object with debug, info, warn and error methods"
                ));
                break;
            }
            _ => {}
        }
    }
    let stderr = || Logger::new(threshold, Arc::new(StderrSink));
    let Some((logger, path)) = given else {
        return Ok(ReadLogger {
            logger: stderr(),
            user: None,
        });
    };
    let wrong = logger_problems(&logger, path)?;
    if !wrong.is_empty() {
        problems.extend(wrong);
        return Ok(ReadLogger {
            logger: stderr(),
            user: None,
        });
    }
    Ok(ReadLogger {
        logger: Logger::new(threshold, Arc::new(JsLogSink::new(env, logger)?)),
        user: Some(logger),
    })
}
