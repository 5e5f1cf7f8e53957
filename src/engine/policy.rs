//! A node's `config`, parsed: retries, delays, timeout, fallback, join.

use serde_json::Value;

use crate::engine::blueprint::NodeDefinition;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JoinStrategy {
    #[default]
    All,
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePolicy {
    /// `maxRetries` is the total number of attempts. 0 is read as 1: the
    /// reference's "never runs, always fails" (W24) is not copied.
    pub max_attempts: u32,
    pub retry_delay_ms: u64,
    /// 0 or absent: no timeout.
    pub timeout_ms: Option<u64>,
    pub fallback: Option<String>,
    pub join: JoinStrategy,
}

impl Default for NodePolicy {
    fn default() -> Self {
        Self {
            max_attempts: 1,
            retry_delay_ms: 0,
            timeout_ms: None,
            fallback: None,
            join: JoinStrategy::All,
        }
    }
}

/// Why a `config` entry was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub field: &'static str,
    pub message: String,
}

fn non_negative_integer(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        }),
        _ => None,
    }
}

fn non_negative_number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f.ceil() as u64)),
        _ => None,
    }
}

impl NodePolicy {
    /// Parses `node.config`, collecting every problem.
    pub fn parse(node: &NodeDefinition) -> Result<NodePolicy, Vec<ConfigProblem>> {
        let mut policy = NodePolicy::default();
        let mut problems = Vec::new();
        let Some(config) = node.config.as_ref() else {
            return Ok(policy);
        };
        let mut problem = |field: &'static str, value: &Value, expected: &str| {
            problems.push(ConfigProblem {
                field,
                message: format!("expected {expected}, got {value}"),
            })
        };
        match config.get("maxRetries") {
            None | Some(Value::Null) => {}
            Some(v) => match non_negative_integer(v) {
                Some(n) => policy.max_attempts = n.clamp(1, u32::MAX as u64) as u32,
                None => problem("maxRetries", v, "a non-negative integer"),
            },
        }
        match config.get("retryDelay") {
            None | Some(Value::Null) => {}
            Some(v) => match non_negative_number(v) {
                Some(n) => policy.retry_delay_ms = n,
                None => problem("retryDelay", v, "a non-negative number of milliseconds"),
            },
        }
        match config.get("timeout") {
            None | Some(Value::Null) => {}
            Some(v) => match non_negative_number(v) {
                Some(0) => {}
                Some(n) => policy.timeout_ms = Some(n),
                None => problem("timeout", v, "a non-negative number of milliseconds"),
            },
        }
        match config.get("fallback") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if !s.is_empty() => policy.fallback = Some(s.clone()),
            Some(v) => problem("fallback", v, "a node id"),
        }
        match config.get("joinStrategy") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s == "all" => policy.join = JoinStrategy::All,
            Some(Value::String(s)) if s == "any" => policy.join = JoinStrategy::Any,
            Some(v) => problem("joinStrategy", v, "'all' or 'any'"),
        }
        if problems.is_empty() {
            Ok(policy)
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(config: Value) -> NodeDefinition {
        serde_json::from_value(json!({"id": "n", "uses": "x", "config": config})).unwrap()
    }

    #[test]
    fn parses_every_field() {
        let p = NodePolicy::parse(&node(json!({
            "maxRetries": 3, "retryDelay": 25, "timeout": 50, "fallback": "fb", "joinStrategy": "any"
        })))
        .unwrap();
        assert_eq!(p.max_attempts, 3);
        assert_eq!(p.retry_delay_ms, 25);
        assert_eq!(p.timeout_ms, Some(50));
        assert_eq!(p.fallback.as_deref(), Some("fb"));
        assert_eq!(p.join, JoinStrategy::Any);
    }

    #[test]
    fn zero_retries_means_one_attempt_and_zero_timeout_means_none() {
        let p = NodePolicy::parse(&node(json!({"maxRetries": 0, "timeout": 0}))).unwrap();
        assert_eq!(p.max_attempts, 1);
        assert_eq!(p.timeout_ms, None);
    }

    #[test]
    fn reports_every_bad_value() {
        let problems = NodePolicy::parse(&node(json!({
            "maxRetries": -1, "timeout": "soon", "joinStrategy": "some", "retryDelay": -5
        })))
        .unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            vec!["maxRetries", "retryDelay", "timeout", "joinStrategy"]
        );
    }
}
