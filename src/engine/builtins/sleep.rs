//! `sleep` (T4): a durable timer. The job schedules its own wake-up through
//! the Timer and ends; the wake-up job completes the node with its input as
//! output. No worker waits and nothing is published meanwhile.

use serde_json::Value;

use crate::engine::builtins::{BuiltinCall, BuiltinResult};
use crate::engine::job::{Job, JobPhase};
use crate::engine::step::{Completion, Continuation, NodeStep};

/// `params.duration`: milliseconds, or `'<n>s|m|h|d'`.
pub fn parse_duration_ms(duration: Option<&Value>) -> Result<u64, String> {
    match duration {
        Some(Value::Number(n)) => match n.as_f64() {
            Some(ms) if ms >= 0.0 && ms.is_finite() => Ok(ms.ceil() as u64),
            _ => Err(format!("Invalid sleep duration: {n}")),
        },
        Some(Value::String(s)) => {
            let unit_ms = match s.chars().last() {
                Some('s') => 1_000,
                Some('m') => 60_000,
                Some('h') => 3_600_000,
                Some('d') => 86_400_000,
                _ => return Err(format!("Invalid sleep duration: '{s}'")),
            };
            let digits = &s[..s.len() - 1];
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return Err(format!("Invalid sleep duration: '{s}'"));
            }
            let n: u64 = digits
                .parse()
                .map_err(|_| format!("Invalid sleep duration: '{s}'"))?;
            Ok(n.saturating_mul(unit_ms))
        }
        other => Err(format!(
            "Invalid sleep duration: {}",
            other.map_or("undefined".to_string(), Value::to_string)
        )),
    }
}

pub fn execute(call: &BuiltinCall<'_>) -> BuiltinResult {
    let ms = parse_duration_ms(call.node.param("duration"))?;
    let job = call.job;
    let mut wake = Job::derived(&job.run_id, &job.blueprint_id, &call.node.id, &job.job_id, "wake");
    wake.phase = JobPhase::Wake;
    Ok(NodeStep::Deferred {
        ops: Vec::new(),
        continuation: Continuation::At {
            at_ms: call.core.now_ms() + ms,
            job: Box::new(wake),
        },
    })
}

/// The timer fired: the output is the input.
pub fn wake(call: &BuiltinCall<'_>) -> NodeStep {
    NodeStep::Completed(Completion::output(call.input.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_numbers_and_units() {
        assert_eq!(parse_duration_ms(Some(&json!(50))), Ok(50));
        assert_eq!(parse_duration_ms(Some(&json!("2s"))), Ok(2_000));
        assert_eq!(parse_duration_ms(Some(&json!("3m"))), Ok(180_000));
        assert_eq!(parse_duration_ms(Some(&json!("1h"))), Ok(3_600_000));
        assert_eq!(parse_duration_ms(Some(&json!("1d"))), Ok(86_400_000));
        assert!(parse_duration_ms(Some(&json!("soon"))).is_err());
        assert!(parse_duration_ms(Some(&json!("-1s"))).is_err());
        assert!(parse_duration_ms(Some(&json!(-5))).is_err());
        assert!(parse_duration_ms(None).is_err());
    }
}
