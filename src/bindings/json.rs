//! JSON into JS through `JSON.parse`, on the JS thread. Setting properties one by one
//! would run the `__proto__` setter for a context key named `__proto__`; `JSON.parse`
//! creates it as an own property, so no prototype is ever touched.

use std::future::Future;

use napi::bindgen_prelude::*;
use napi::Env;
use serde_json::Value;

use serde_json::Map;

use super::errors::{coded, InvalidArgument};
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

/// A value from JS as `JSON.stringify` writes it (the reference adapter stores contexts
/// so, and a durable store can hold nothing else): `NaN` and `±Infinity` become `null`,
/// as do holes in arrays; `undefined` members and functions are left out; `toJSON` (a
/// `Date`) is used. A value JSON cannot write (a cycle, a `BigInt`) is refused, naming
/// `what` and JSON's own reason. `None` when there is nothing to write (`undefined`).
pub fn json_from_js(
    env: &Env,
    value: Unknown<'_>,
    what: &str,
) -> std::result::Result<Option<Value>, InvalidArgument> {
    let napi_failure = |e: Error| InvalidArgument(format!("{what} could not be read: {}", e.reason));
    let json: Object = env
        .get_global()
        .and_then(|global| global.get_named_property("JSON"))
        .map_err(napi_failure)?;
    let stringify: Function<Unknown, Unknown> = json.get_named_property("stringify").map_err(napi_failure)?;
    let text = stringify
        .call(value)
        .map_err(|e| InvalidArgument(format!("{what} cannot be written as JSON: {}", e.reason)))?;
    if text.get_type().map_err(napi_failure)? != ValueType::String {
        return Ok(None);
    }
    let text = string_of(text).map_err(napi_failure)?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| InvalidArgument(format!("{what} could not be read as JSON: {e}")))
}

/// A run's initial context (see `json_from_js`): an object, or nothing (`undefined`,
/// `null`: an empty context).
pub fn context_from_js(
    env: &Env,
    value: Option<Unknown<'_>>,
    what: &str,
) -> std::result::Result<Map<String, Value>, InvalidArgument> {
    let Some(value) = value else {
        return Ok(Map::new());
    };
    match json_from_js(env, value, what)? {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(context)) => Ok(context),
        Some(other) => Err(InvalidArgument(format!(
            "{what} must be an object of context keys, not {}",
            json_kind(&other)
        ))),
    }
}

/// `resume`'s `{ output?, action? }` (Flowcraft's `resumeData`): `output` as JSON (absent
/// or `undefined`: none), `action` a string when given.
pub fn resume_data_from_js(
    env: &Env,
    data: Option<Object<'_>>,
) -> std::result::Result<crate::engine::resume::ResumeData, InvalidArgument> {
    let Some(data) = data else {
        return Ok(Default::default());
    };
    let read = |e: Error| InvalidArgument(format!("resumeData could not be read: {}", e.reason));
    let output = match data.get::<Unknown>("output").map_err(read)? {
        Some(value) if value.get_type().map_err(read)? != ValueType::Undefined => {
            json_from_js(env, value, "resumeData.output")?
        }
        _ => None,
    };
    let action = match data.get::<Unknown>("action").map_err(read)? {
        None => None,
        Some(value) => match value.get_type().map_err(read)? {
            ValueType::Undefined | ValueType::Null => None,
            ValueType::String => Some(string_of(value).map_err(read)?),
            other => {
                return Err(InvalidArgument(format!(
                    "resumeData.action must be a string, not {}",
                    format!("{other:?}").to_lowercase()
                )))
            }
        },
    };
    Ok(crate::engine::resume::ResumeData { action, output })
}

/// `runMany`'s inputs (see `json_from_js`): an array of initial contexts, each named by
/// its index when refused.
pub fn contexts_from_js(
    env: &Env,
    value: Unknown<'_>,
    what: &str,
) -> std::result::Result<Vec<Map<String, Value>>, InvalidArgument> {
    let items = match json_from_js(env, value, what)? {
        Some(Value::Array(items)) => items,
        other => {
            let kind = other.as_ref().map_or("undefined", json_kind);
            return Err(InvalidArgument(format!(
                "{what} must be an array of initial contexts, not {kind}"
            )));
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::Null => Ok(Map::new()),
            Value::Object(context) => Ok(context),
            other => Err(InvalidArgument(format!(
                "{what}[{index}] must be an object of context keys, not {}",
                json_kind(&other)
            ))),
        })
        .collect()
}

/// "a string", "an array", ...: what a value is, for messages that refuse it.
pub(super) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JS value's kind, for messages ("a number", "an object", ...).
pub(crate) fn js_kind(value_type: ValueType) -> &'static str {
    match value_type {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::Number => "a number",
        ValueType::String => "a string",
        ValueType::Object => "an object",
        ValueType::Function => "a function",
        _ => "not a function",
    }
}

/// A JS string (or anything, as `String(value)`) as a Rust string.
fn string_of(value: Unknown<'_>) -> napi::Result<String> {
    value.coerce_to_string()?.into_utf8()?.into_owned()
}

/// `ms` (since 1970, UTC) as JavaScript's `Date.prototype.toISOString` writes it.
pub(crate) fn iso_8601_utc(ms: u64) -> String {
    let (seconds, millis) = (ms / 1000, ms % 1000);
    let (days, in_day) = ((seconds / 86_400) as i64, seconds % 86_400);
    // Days to a civil date (H. Hinnant's algorithm, proleptic Gregorian calendar).
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let (hour, minute, second) = (in_day / 3600, in_day % 3600 / 60, in_day % 60);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

#[cfg(test)]
mod tests {
    use super::iso_8601_utc;

    #[test]
    fn iso_timestamps_match_javascript() {
        assert_eq!(iso_8601_utc(0), "1970-01-01T00:00:00.000Z");
        // new Date(1700000000123).toISOString(), and a leap day.
        assert_eq!(iso_8601_utc(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso_8601_utc(1_709_208_000_000), "2024-02-29T12:00:00.000Z");
        assert_eq!(iso_8601_utc(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
    }
}
