//! Compares one run with a case's `expect` block.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::engine::run::{PublishedResult, RunStatus};

/// What the runner observed of one run.
pub struct Observed {
    pub status: RunStatus,
    pub status_before_resume: Option<RunStatus>,
    pub reason: Option<String>,
    pub published: Vec<PublishedResult>,
    pub resume_applied: bool,
    pub context: Map<String, Value>,
    pub executions: HashMap<String, u64>,
    pub duration_ms: u64,
    pub node_ids: HashSet<String>,
}

/// JSON equality with numbers compared by value (1 == 1.0).
pub fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| deep_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        _ => a == b,
    }
}

fn substrings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

pub fn compare(expect: &Value, seen: &Observed) -> Vec<String> {
    let mut diffs = Vec::new();
    if let Some(status) = expect["status"].as_str() {
        if status != seen.status.as_str() {
            diffs.push(format!(
                "status: expected {status}, got {} (reason {:?})",
                seen.status.as_str(),
                seen.reason
            ));
        }
    }
    if let Some(before) = expect["statusBeforeResume"].as_str() {
        let got = seen.status_before_resume.map(RunStatus::as_str);
        if got != Some(before) {
            diffs.push(format!("statusBeforeResume: expected {before}, got {got:?}"));
        }
    }
    for needle in substrings(&expect["reasonContains"]) {
        if !seen.reason.as_deref().unwrap_or("").contains(&needle) {
            diffs.push(format!("reason {:?} lacks {needle:?}", seen.reason));
        }
    }
    if let Some(published) = expect["published"].as_array() {
        let got: Vec<&str> = seen.published.iter().map(|p| p.status.as_str()).collect();
        let want: Vec<&str> = published.iter().filter_map(|p| p["status"].as_str()).collect();
        if got != want {
            diffs.push(format!("published: expected {want:?}, got {got:?}"));
        } else {
            for (p, result) in published.iter().zip(&seen.published) {
                for needle in substrings(&p["reasonContains"]) {
                    if !result.reason.as_deref().unwrap_or("").contains(&needle) {
                        diffs.push(format!("published reason {:?} lacks {needle:?}", result.reason));
                    }
                }
            }
        }
    }
    if let Some(applied) = expect["resumeApplied"].as_bool() {
        if applied != seen.resume_applied {
            diffs.push(format!(
                "resumeApplied: expected {applied}, got {}",
                seen.resume_applied
            ));
        }
    }
    let expected_context = expect["context"].as_object().cloned().unwrap_or_default();
    for (key, want) in &expected_context {
        match seen.context.get(key) {
            Some(got) if deep_equal(got, want) => {}
            got => diffs.push(format!(
                "context[{key}]: expected {want}, got {}",
                got.map_or("<absent>".into(), Value::to_string)
            )),
        }
    }
    for key in expect["absent"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Some(value) = seen.context.get(key) {
            diffs.push(format!("context[{key}] must be absent, is {value}"));
        }
    }
    for id in &seen.node_ids {
        if seen.context.contains_key(id) && !expected_context.contains_key(id) {
            diffs.push(format!("bare node-id key {id:?} in the context"));
        }
    }
    let expected_runs = expect["executions"].as_object().cloned().unwrap_or_default();
    let mut names: HashSet<&String> = expected_runs.keys().collect();
    names.extend(seen.executions.keys());
    for name in names {
        let got = seen.executions.get(name).copied().unwrap_or(0);
        let ok = match expected_runs.get(name) {
            None => got == 0,
            Some(Value::Array(range)) => {
                let lo = range.first().and_then(Value::as_u64).unwrap_or(0);
                let hi = range.get(1).and_then(Value::as_u64).unwrap_or(u64::MAX);
                (lo..=hi).contains(&got)
            }
            Some(n) => n.as_u64() == Some(got),
        };
        if !ok {
            diffs.push(format!(
                "executions[{name}]: expected {}, got {got}",
                expected_runs.get(name).cloned().unwrap_or(Value::from(0))
            ));
        }
    }
    if let Some(min) = expect["minDurationMs"].as_u64() {
        if seen.duration_ms < min {
            diffs.push(format!(
                "final result after {} ms, expected at least {min} ms",
                seen.duration_ms
            ));
        }
    }
    diffs
}
