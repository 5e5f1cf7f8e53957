//! `runtimeOptions` (Flowcraft's `{ blueprints, registry, dependencies?, evaluator?, middleware? }`)
//! read from the JS options object, every problem collected.

use napi::bindgen_prelude::*;
use napi::Env;
use serde_json::Value;

use super::json::{js_kind, json_kind};
use crate::engine::WorkflowBlueprint;

/// `runtimeOptions` as given by the user, still JS values where they hold functions.
pub struct RuntimeOptions<'env> {
    pub blueprints: Vec<WorkflowBlueprint>,
    pub registry: Object<'env>,
    pub dependencies: Option<Object<'env>>,
    pub evaluator: Option<Object<'env>>,
    /// Flowcraft middleware: an array of `{ beforeNode?, afterNode?, aroundNode? }`.
    pub middleware: Option<Object<'env>>,
    /// FlowRuntime's `eventBus`: `{ emit(event) }`.
    pub event_bus: Option<Object<'env>>,
    /// Refuse blueprints with a cycle (`strict: true`).
    pub strict: bool,
    /// Keys Flowcraft's FlowRuntime takes that this adapter does not honour, said as
    /// warnings rather than dropped without a word.
    pub unhonoured: Vec<String>,
}

/// FlowRuntime options this adapter does not act on (yet), and what to do instead.
const UNHONOURED: [(&str, &str); 1] = [(
    "serializer",
    "contexts are stored as JSON (as JSON.stringify writes them)",
)];
const HONOURED: [&str; 8] = [
    "blueprints",
    "eventBus",
    "registry",
    "dependencies",
    "evaluator",
    "logger",
    "middleware",
    "strict",
];

const MIDDLEWARE_HOOKS: [&str; 3] = ["beforeNode", "afterNode", "aroundNode"];

/// Reads `options.runtimeOptions`; problems are added to `problems`.
pub fn read_runtime_options<'env>(
    env: &'env Env,
    options: &Object<'env>,
    problems: &mut Vec<String>,
) -> Result<Option<RuntimeOptions<'env>>> {
    let Some(runtime) = options.get::<Object>("runtimeOptions")? else {
        problems.push("runtimeOptions is missing: pass { blueprints, registry }".into());
        return Ok(None);
    };
    let registry = match runtime.get::<Object>("registry")? {
        Some(registry) => Some(plain_registry(env, registry)?),
        None => None,
    };
    if registry.is_none() {
        problems.push("runtimeOptions.registry is missing: pass an object of node functions".into());
    }
    let blueprints = match runtime.get::<Unknown>("blueprints")? {
        None => {
            problems.push("runtimeOptions.blueprints is missing".into());
            Vec::new()
        }
        Some(value) => parse_blueprints(env.from_js_value::<Value, _>(value)?, problems),
    };
    let evaluator = runtime.get::<Object>("evaluator")?;
    if let Some(evaluator) = &evaluator {
        if evaluator
            .get::<Function<(), ()>>("evaluate")
            .ok()
            .flatten()
            .is_none()
        {
            problems.push("runtimeOptions.evaluator must have an evaluate(expression, scope) method".into());
        }
    }
    let dependencies = runtime.get::<Object>("dependencies")?;
    let strict = match runtime.get::<Unknown>("strict")? {
        None => false,
        Some(value) => match value.get_type()? {
            ValueType::Boolean => value.coerce_to_bool()?,
            other => {
                problems.push(format!(
                    "runtimeOptions.strict must be true or false, not {other:?}"
                ));
                false
            }
        },
    };
    let middleware = read_middleware(&runtime, problems)?;
    let event_bus = read_event_bus(&runtime, problems)?;
    let unhonoured = unhonoured_keys(&runtime)?;
    Ok(registry.map(|registry| RuntimeOptions {
        blueprints,
        registry,
        dependencies,
        evaluator,
        middleware,
        event_bus,
        strict,
        unhonoured,
    }))
}

/// `runtimeOptions.middleware`: an array of objects whose hooks, where set, are functions.
fn read_middleware<'env>(runtime: &Object<'env>, problems: &mut Vec<String>) -> Result<Option<Object<'env>>> {
    let Some(value) = runtime.get::<Unknown>("middleware")? else {
        return Ok(None);
    };
    if value.get_type()? == ValueType::Undefined || value.get_type()? == ValueType::Null {
        return Ok(None);
    }
    if !value.is_array()? {
        problems.push(format!(
            "runtimeOptions.middleware must be an array of {{ beforeNode?, afterNode?, aroundNode? }}, not {}",
            js_kind(value.get_type()?)
        ));
        return Ok(None);
    }
    let list: Object = Object::from_unknown(value)?;
    let before = problems.len();
    for index in 0..list.get_array_length()? {
        let entry: Unknown = list.get_element(index)?;
        if entry.get_type()? != ValueType::Object {
            problems.push(format!(
                "runtimeOptions.middleware[{index}] must be an object with beforeNode, afterNode or aroundNode, not {}",
                js_kind(entry.get_type()?)
            ));
            continue;
        }
        let entry: Object = Object::from_unknown(entry)?;
        for hook in MIDDLEWARE_HOOKS {
            let Some(value) = entry.get::<Unknown>(hook)? else {
                continue;
            };
            let kind = value.get_type()?;
            if kind != ValueType::Function && kind != ValueType::Undefined {
                problems.push(format!(
                    "runtimeOptions.middleware[{index}].{hook} must be a function, not {}",
                    js_kind(kind)
                ));
            }
        }
    }
    Ok((problems.len() == before).then_some(list))
}

/// `runtimeOptions.eventBus`: an object with an `emit(event)` method.
fn read_event_bus<'env>(runtime: &Object<'env>, problems: &mut Vec<String>) -> Result<Option<Object<'env>>> {
    let Some(value) = runtime.get::<Unknown>("eventBus")? else {
        return Ok(None);
    };
    let kind = value.get_type()?;
    if kind == ValueType::Undefined || kind == ValueType::Null {
        return Ok(None);
    }
    let bus = (kind == ValueType::Object)
        .then(|| Object::from_unknown(value))
        .transpose()?;
    let emits = match &bus {
        Some(bus) => {
            bus.get::<Unknown>("emit")?
                .map(|emit| emit.get_type())
                .transpose()?
                == Some(ValueType::Function)
        }
        None => false,
    };
    if !emits {
        problems.push(format!(
            "runtimeOptions.eventBus must be an object with an emit(event) method, not {}",
            if kind == ValueType::Object {
                "an object without one"
            } else {
                js_kind(kind)
            }
        ));
        return Ok(None);
    }
    Ok(bus)
}

/// A warning per key of `runtimeOptions` that is set and not acted on.
fn unhonoured_keys(runtime: &Object) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    for key in Object::keys(runtime)? {
        if HONOURED.contains(&key.as_str()) || runtime.get::<Unknown>(&key)?.is_none() {
            continue;
        }
        let warning = match UNHONOURED.iter().find(|(name, _)| *name == key) {
            Some((_, instead)) => format!("runtimeOptions.{key} is not supported by this adapter: {instead}"),
            None => format!("runtimeOptions.{key} is not an option this adapter knows; it is ignored"),
        };
        warnings.push(warning);
    }
    Ok(warnings)
}

/// A registry as Flowcraft's builder gives it (`createFlow(...).getFunctionRegistry()` is
/// a `Map` of name to function or class) becomes a plain object keyed by name.
fn plain_registry<'env>(env: &'env Env, registry: Object<'env>) -> Result<Object<'env>> {
    // By its tag, not `instanceof`: a Map made in another realm (a vm context, jest's
    // sandbox) is a Map too.
    let convert: Function<Object, Object> = env.run_script(
        "(registry) => Object.prototype.toString.call(registry) === '[object Map]' ? Object.fromEntries(registry) : registry",
    )?;
    convert.call(registry)
}

/// Blueprints as Flowcraft takes them: an object keyed by id, or an array.
fn parse_blueprints(value: Value, problems: &mut Vec<String>) -> Vec<WorkflowBlueprint> {
    let entries: Vec<(String, Value)> = match value {
        Value::Object(map) => map.into_iter().collect(),
        Value::Array(list) => list
            .into_iter()
            .enumerate()
            .map(|(index, blueprint)| (format!("[{index}]"), blueprint))
            .collect(),
        other => {
            problems.push(format!(
                "runtimeOptions.blueprints must be an object keyed by blueprint id or an array, not {}",
                json_kind(&other)
            ));
            return Vec::new();
        }
    };
    let mut blueprints = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        match serde_json::from_value::<WorkflowBlueprint>(value) {
            Ok(blueprint) => {
                let keyed_by_id = !key.starts_with('[');
                if keyed_by_id && blueprint.id != key {
                    problems.push(format!(
                        "runtimeOptions.blueprints['{key}'] has id '{}': the key must be the blueprint's id",
                        blueprint.id
                    ));
                }
                blueprints.push(blueprint);
            }
            Err(error) => problems.push(format!("runtimeOptions.blueprints{}: {error}", display_key(&key))),
        }
    }
    blueprints
}

fn display_key(key: &str) -> String {
    if key.starts_with('[') {
        key.to_string()
    } else {
        format!("['{key}']")
    }
}
