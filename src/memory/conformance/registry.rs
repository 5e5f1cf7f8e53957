//! A Rust port of `shared/conformance/registry.js`: the node functions every
//! conformance case uses, with the same behaviour (attempt and abort
//! counters per run and `params.attemptKey`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::engine::evaluator::is_truthy;
use crate::engine::invoker::{NodeCall, NodeFailure, NodeInvoker, NodeReturn};
use crate::engine::traits::{BoxFuture, ContextOp};

type Counters = Arc<Mutex<HashMap<String, u64>>>;

#[derive(Default)]
pub struct TestRegistry {
    attempts: Counters,
    aborts: Counters,
}

const FUNCTIONS: &[&str] = &[
    "emit",
    "echo",
    "capture",
    "add",
    "multiply",
    "sum",
    "setKeys",
    "readKeys",
    "classify",
    "flaky",
    "alwaysFail",
    "slow",
    "slowThenFast",
    "abortCount",
    "noOutput",
    "returnNothing",
    "loopBody",
    "recordResume",
    "recover",
    "countKeys",
];

/// JS numbers as JSON: integral values stay integers.
pub fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

fn numeric(value: Option<&Value>, fallback: f64) -> f64 {
    value.and_then(Value::as_f64).unwrap_or(fallback)
}

fn norm(value: Option<&Value>) -> Value {
    value.cloned().unwrap_or(Value::Null)
}

/// The node's view of the context: the snapshot plus its own writes.
struct NodeContext {
    snapshot: Arc<Map<String, Value>>,
    ops: Vec<ContextOp>,
}

impl NodeContext {
    fn get(&self, key: &str) -> Option<Value> {
        for op in self.ops.iter().rev() {
            match op {
                ContextOp::Set { key: k, value } if k == key => return Some(value.clone()),
                ContextOp::Delete { key: k } if k == key => return None,
                _ => {}
            }
        }
        self.snapshot.get(key).cloned()
    }

    fn set(&mut self, key: &str, value: Value) {
        self.ops.push(ContextOp::set(key, value));
    }

    fn to_json(&self) -> Map<String, Value> {
        let mut map = (*self.snapshot).clone();
        for op in &self.ops {
            op.apply_to(&mut map);
        }
        map
    }
}

fn next_attempt(counters: &Counters, call: &NodeCall, fallback: &str) -> u64 {
    let key = format!(
        "{}:{}",
        call.run_id,
        call.params
            .get("attemptKey")
            .and_then(Value::as_str)
            .unwrap_or(fallback)
    );
    let mut map = counters.lock().unwrap();
    let n = map.entry(key).or_default();
    *n += 1;
    *n
}

/// Waits `ms`; when the abort signal fires first, counts the abort and fails.
async fn pause(aborts: &Counters, call: &NodeCall, ms: f64, fallback: &str) -> Result<(), NodeFailure> {
    let key = format!(
        "{}:{}",
        call.run_id,
        call.params
            .get("attemptKey")
            .and_then(Value::as_str)
            .unwrap_or(fallback)
    );
    let counters = aborts.clone();
    let _listener = call.abort.on_abort(move |_| {
        *counters.lock().unwrap().entry(key).or_default() += 1;
    });
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(ms.max(0.0) as u64)) => Ok(()),
        _ = call.abort.aborted() => Err(NodeFailure::new("aborted")),
    }
}

fn out(output: Value) -> NodeReturn {
    NodeReturn {
        output: Some(output),
        ..NodeReturn::default()
    }
}

impl TestRegistry {
    async fn run(attempts: Counters, aborts: Counters, call: NodeCall) -> Result<NodeReturn, NodeFailure> {
        let p = &call.params;
        let param = |name: &str| p.get(name);
        let mut ctx = NodeContext {
            snapshot: call.context.clone(),
            ops: Vec::new(),
        };
        let mut result = match call.uses.as_str() {
            "emit" => {
                let mut r = out(norm(param("value")));
                r.action = param("action").and_then(Value::as_str).map(str::to_string);
                r
            }
            "echo" => out(norm(call.input.as_ref())),
            "capture" => {
                let input = norm(call.input.as_ref());
                if let Some(key) = param("key")
                    .filter(|k| is_truthy(Some(k)))
                    .and_then(Value::as_str)
                {
                    ctx.set(key, input.clone());
                }
                out(json!({ "input": input }))
            }
            "add" => {
                let base = numeric(call.input.as_ref(), numeric(param("base"), 0.0));
                out(number(base + numeric(param("amount"), 1.0)))
            }
            "multiply" => out(number(
                numeric(call.input.as_ref(), 0.0) * numeric(param("factor"), 2.0),
            )),
            "sum" => {
                let values: Vec<Value> = match &call.input {
                    Some(Value::Array(items)) => items.clone(),
                    Some(Value::Object(map)) => map.values().cloned().collect(),
                    Some(n @ Value::Number(_)) => vec![n.clone()],
                    _ => Vec::new(),
                };
                let total = number(values.iter().filter_map(Value::as_f64).sum());
                if let Some(key) = param("key").and_then(Value::as_str).filter(|k| !k.is_empty()) {
                    ctx.set(key, total.clone());
                }
                out(total)
            }
            "setKeys" => {
                let entries: Vec<(String, Value)> = param("set")
                    .and_then(Value::as_object)
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                // serde_json maps iterate in key order, like the JS sort.
                for (key, value) in &entries {
                    ctx.set(key, value.clone());
                }
                match param("output") {
                    Some(output) => out(output.clone()),
                    None => out(Value::Array(entries.into_iter().map(|(k, _)| json!(k)).collect())),
                }
            }
            "readKeys" => {
                let mut output = Map::new();
                for key in param("keys").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(key) = key.as_str() {
                        output.insert(key.to_string(), norm(ctx.get(key).as_ref()));
                    }
                }
                out(Value::Object(output))
            }
            "classify" => {
                let value = numeric(call.input.as_ref(), 0.0);
                let threshold = numeric(param("threshold"), 10.0);
                let pick = |name: &str, default: &str| {
                    param(name)
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .unwrap_or(default)
                        .to_string()
                };
                let band = if value >= threshold {
                    pick("above", "high")
                } else {
                    pick("below", "low")
                };
                let mut r = out(json!({"value": number(value), "band": band}));
                r.action = Some(band);
                r
            }
            "flaky" => {
                let attempt = next_attempt(&attempts, &call, "flaky");
                if attempt as f64 <= numeric(param("failTimes"), 1.0) {
                    let key = param("attemptKey").and_then(Value::as_str).unwrap_or("flaky");
                    return Err(NodeFailure::new(format!(
                        "flaky '{key}' failed on attempt {attempt}"
                    )));
                }
                out(json!({"attempts": attempt, "value": norm(param("value"))}))
            }
            "alwaysFail" => {
                let message = param("message").and_then(Value::as_str).filter(|s| !s.is_empty());
                return Err(NodeFailure::new(message.unwrap_or("always fails")));
            }
            "slow" => {
                pause(&aborts, &call, numeric(param("ms"), 100.0), "slow").await?;
                out(param("value").cloned().unwrap_or(json!("slow done")))
            }
            "slowThenFast" => {
                let attempt = next_attempt(&attempts, &call, "slowThenFast");
                let slow_times = numeric(param("slowTimes"), 1.0);
                let ms = if attempt as f64 <= slow_times {
                    numeric(param("slowMs"), 100.0)
                } else {
                    numeric(param("fastMs"), 0.0)
                };
                pause(&aborts, &call, ms, "slowThenFast").await?;
                out(json!({"attempt": attempt, "value": norm(param("value"))}))
            }
            "abortCount" => {
                let key = format!(
                    "{}:{}",
                    call.run_id,
                    param("attemptKey").and_then(Value::as_str).unwrap_or("slow")
                );
                let count = aborts.lock().unwrap().get(&key).copied().unwrap_or(0);
                out(json!({ "aborts": count }))
            }
            "noOutput" | "returnNothing" => NodeReturn::default(),
            "loopBody" => {
                let counter_key = param("counterKey")
                    .and_then(Value::as_str)
                    .unwrap_or("count")
                    .to_string();
                let flag_key = param("flagKey")
                    .and_then(Value::as_str)
                    .unwrap_or("keepGoing")
                    .to_string();
                let count = numeric(ctx.get(&counter_key).as_ref(), 0.0) + 1.0;
                ctx.set(&counter_key, number(count));
                ctx.set(&flag_key, json!(count < numeric(param("limit"), 3.0)));
                if let Some(prefix) = param("tracePrefix")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                {
                    ctx.set(&format!("{prefix}{count}"), number(count));
                }
                out(number(count))
            }
            "recordResume" => {
                let seen = json!({
                    "action": norm(ctx.get("_resume.action").as_ref()),
                    "output": norm(ctx.get("_resume.output").as_ref()),
                });
                if let Some(key) = param("key").and_then(Value::as_str).filter(|s| !s.is_empty()) {
                    ctx.set(key, seen.clone());
                }
                out(seen)
            }
            "recover" => {
                let caught = ctx.get("_catch_error");
                let failed = caught
                    .as_ref()
                    .and_then(|c| c.get("nodeId"))
                    .cloned()
                    .unwrap_or(Value::Null);
                out(json!({"recovered": true, "failedNode": failed, "value": norm(param("value"))}))
            }
            "countKeys" => {
                let data = ctx.to_json();
                let prefix = param("prefix").and_then(Value::as_str).unwrap_or("");
                let matching: Vec<&Value> = data
                    .iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(_, v)| v)
                    .collect();
                let total: f64 = matching.iter().filter_map(|v| v.as_f64()).sum();
                let key = param("key")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .unwrap_or("keyCount");
                let count = matching.len();
                ctx.set(key, json!(count));
                out(json!({"count": count, "total": number(total)}))
            }
            other => {
                return Err(NodeFailure::new(format!(
                    "Implementation for '{other}' not found."
                )))
            }
        };
        result.context_ops = ctx.ops;
        Ok(result)
    }
}

impl NodeInvoker for TestRegistry {
    fn has(&self, uses: &str) -> bool {
        FUNCTIONS.contains(&uses)
    }

    fn invoke(&self, call: NodeCall) -> BoxFuture<'static, Result<NodeReturn, NodeFailure>> {
        Box::pin(Self::run(self.attempts.clone(), self.aborts.clone(), call))
    }
}
