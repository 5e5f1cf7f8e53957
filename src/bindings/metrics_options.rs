//! The `metrics: { port, host? }` option, shared by both adapters.

use napi::bindgen_prelude::*;

use crate::adapter::metrics_service::MetricsListen;

const METRICS_FIELDS: [&str; 2] = ["port", "host"];

/// `None` without the option; a problem (and `None`) for a value that is not one.
pub fn read_metrics_listen(options: &Object, problems: &mut Vec<String>) -> Result<Option<MetricsListen>> {
    let Some(value) = options.get::<Unknown>("metrics")? else {
        return Ok(None);
    };
    let shape = "metrics must be { port, host? } (port 0-65535; 0 picks a free port)";
    let object = match value.get_type()? {
        ValueType::Undefined | ValueType::Null => return Ok(None),
        ValueType::Object => unsafe { value.cast::<Object>()? },
        other => {
            problems.push(format!("{shape}, not a {other:?}").to_lowercase());
            return Ok(None);
        }
    };
    let mut ok = true;
    for unknown in Object::keys(&object)?
        .into_iter()
        .filter(|key| !METRICS_FIELDS.contains(&key.as_str()))
    {
        problems.push(format!("metrics.{unknown} is not an option (known: port, host)"));
        ok = false;
    }
    let port = match object.get::<Unknown>("port")? {
        Some(port) if port.get_type()? == ValueType::Number => {
            let port = unsafe { port.cast::<f64>()? };
            if port.fract() != 0.0 || !(0.0..=65535.0).contains(&port) {
                problems.push(format!(
                    "metrics.port = {port}: expected a whole number from 0 to 65535"
                ));
                None
            } else {
                Some(port as u16)
            }
        }
        _ => {
            problems.push(format!("metrics.port is missing or not a number: {shape}"));
            None
        }
    };
    let host = match object.get::<Unknown>("host")? {
        None => Some(MetricsListen::DEFAULT_HOST.to_string()),
        Some(host) if host.get_type()? == ValueType::Undefined => {
            Some(MetricsListen::DEFAULT_HOST.to_string())
        }
        Some(host) if host.get_type()? == ValueType::String => {
            let host = unsafe { host.cast::<String>()? };
            if host.trim().is_empty() {
                problems.push("metrics.host is empty: give an address such as 127.0.0.1 or 0.0.0.0".into());
                None
            } else {
                Some(host)
            }
        }
        Some(_) => {
            problems.push("metrics.host must be a string such as 127.0.0.1 or 0.0.0.0".into());
            None
        }
    };
    Ok(match (ok, port, host) {
        (true, Some(port), Some(host)) => Some(MetricsListen { host, port }),
        _ => None,
    })
}
