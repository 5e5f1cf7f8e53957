//! The JS half of an adapter: `node_runtime.js` evaluated once, with the node invoker
//! and the event sink that talk to it.

use std::collections::BTreeSet;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::{Env, JsValue};

use super::batched_call::BatchedJsCall;
use super::channel::ReplyChannel;
use super::evaluator::JsEvaluator;
use super::events::JsEventSink;
use super::invoker::JsNodeInvoker;
use super::live_contexts::LiveContexts;
use crate::bindings::json::js_kind;
use crate::engine::log::{parse_threshold, Level};
use crate::engine::Logger;

const NODE_RUNTIME_JS: &str = include_str!("node_runtime.js");

type CompleteFn<'env> = Function<'env, String, ()>;
type ContextValueFn<'env> = Function<'env, FnArgs<(i64, String)>, Option<String>>;
type ContextAllFn<'env> = Function<'env, i64, Option<String>>;
type LogFn<'env> = Function<'env, FnArgs<(String, String, Option<String>)>, ()>;
type RuntimeArgs<'env> = (
    Object<'env>,
    Unknown<'env>,
    CompleteFn<'env>,
    Unknown<'env>,
    ContextValueFn<'env>,
    ContextAllFn<'env>,
    Unknown<'env>,
    LogFn<'env>,
    Unknown<'env>,
    Unknown<'env>,
);
type RuntimeFactory<'env> = Function<'env, FnArgs<RuntimeArgs<'env>>, Object<'env>>;

/// The user's code the JS half runs: node implementations (`implementations` names the
/// registry's callable entries), `dependencies`, a custom evaluator and Flowcraft
/// middleware (an array, checked by `runtime_options`).
pub struct UserCode<'env> {
    pub registry: Object<'env>,
    pub implementations: BTreeSet<String>,
    pub dependencies: Option<Object<'env>>,
    pub evaluator: Option<Object<'env>>,
    pub middleware: Option<Object<'env>>,
    /// FlowRuntime's `eventBus` (`{ emit(event) }`), told every event in its shape.
    pub event_bus: Option<Object<'env>>,
}

/// What `ctx.dependencies.logger` writes to: the user's logger object when given, else
/// the adapter's `logger` (through a native function).
pub struct NodeLogging<'env> {
    pub logger: Logger,
    pub user: Option<Object<'env>>,
}

pub struct JsRuntime {
    pub invoker: Arc<JsNodeInvoker>,
    pub events: Arc<JsEventSink>,
    pub evaluator: Option<Arc<JsEvaluator>>,
    replies: ReplyChannel,
    /// `None` once released by the owning class's finalizer.
    object: Option<ObjectRef>,
}

/// Splits a registry into callable entries and a list of problems, all at once.
pub fn registry_entries(registry: &Object) -> Result<(BTreeSet<String>, Vec<String>)> {
    let mut names = BTreeSet::new();
    let mut problems = Vec::new();
    for name in Object::keys(registry)? {
        let value: Unknown = registry.get_named_property(&name)?;
        match value.get_type()? {
            ValueType::Function => {
                names.insert(name);
            }
            other => problems.push(format!(
                "registry['{name}'] is {}, not a node function or class",
                js_kind(other)
            )),
        }
    }
    Ok((names, problems))
}

/// An optional object as the runtime's argument: the object, else `undefined`.
fn or_undefined<'env>(env: &'env Env, object: Option<Object<'env>>) -> Result<Unknown<'env>> {
    match object {
        Some(object) => Ok(object.to_unknown()),
        None => ().into_unknown(env),
    }
}

impl JsRuntime {
    /// Must run on the JS thread. `keep_alive`: whether queued node calls keep Node running
    /// (workers: yes, until `close`; in-memory runs: no, awaiting a run keeps it alive).
    pub fn new(env: &Env, code: UserCode, keep_alive: bool, logging: NodeLogging) -> Result<Self> {
        let UserCode {
            registry,
            implementations,
            dependencies,
            evaluator,
            middleware,
            event_bus,
        } = code;
        let NodeLogging {
            logger,
            user: user_logger,
        } = logging;
        let replies = ReplyChannel::default();
        let answers = replies.clone();
        let complete_fn = env.create_function_from_closure("complete", move |ctx| {
            // `callId \n json \n callId \n json ...`: JSON text holds no raw newline.
            // Split and handed out on a runtime thread: the JS thread only copies the text.
            let batch: String = ctx.get(0)?;
            let answers = answers.clone();
            napi::bindgen_prelude::spawn(async move { answers.answer_batch(&batch) });
            Ok(())
        })?;
        let contexts = LiveContexts::default();
        let readable = contexts.clone();
        // `contextValue(callId, key)`: the JSON of one value, undefined when absent.
        let context_value_fn: ContextValueFn =
            env.create_function_from_closure("contextValue", move |ctx| {
                let call_id: i64 = ctx.get(0)?;
                let key: String = ctx.get(1)?;
                Ok(readable.value_json(call_id, &key))
            })?;
        let readable = contexts.clone();
        // `contextAll(callId)`: the JSON of the whole context (`toJSON()`).
        let context_all_fn: ContextAllFn = env.create_function_from_closure("contextAll", move |ctx| {
            let call_id: i64 = ctx.get(0)?;
            Ok(readable.all_json(call_id))
        })?;
        // `log(level, message, contextJson)`: `ctx.dependencies.logger` without a user logger.
        let log_fn: LogFn = env.create_function_from_closure("log", move |ctx| {
            let level: String = ctx.get(0)?;
            let message: String = ctx.get(1)?;
            let context: Option<String> = ctx.get(2)?;
            let level = parse_threshold(&level).flatten().unwrap_or(Level::Info);
            let context = context
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or(serde_json::Value::Null);
            logger.log(level, &message, context);
            Ok(())
        })?;
        let user_logger = or_undefined(env, user_logger)?;
        let has_evaluator = evaluator.is_some();
        let evaluator = or_undefined(env, evaluator)?;
        let factory: RuntimeFactory = env.run_script(NODE_RUNTIME_JS)?;
        let dependencies = match dependencies {
            Some(object) => object.to_unknown(),
            None => Object::new(env)?.to_unknown(),
        };
        let middleware = or_undefined(env, middleware)?;
        let has_event_bus = event_bus.is_some();
        let event_bus = or_undefined(env, event_bus)?;
        let args = (
            registry,
            dependencies,
            complete_fn,
            evaluator,
            context_value_fn,
            context_all_fn,
            user_logger,
            log_fn,
            middleware,
            event_bus,
        );
        let object = factory.call(args.into())?;
        let calls = BatchedJsCall::new(env, object.get_named_property("dispatch")?, keep_alive)?;
        let aborts = BatchedJsCall::new(env, object.get_named_property("abort")?, false)?;
        let events = BatchedJsCall::new(env, object.get_named_property("emitEvents")?, false)?;
        let evaluator = if has_evaluator {
            let calls = BatchedJsCall::new(env, object.get_named_property("evaluate")?, false)?;
            Some(Arc::new(JsEvaluator::new(calls, replies.clone())))
        } else {
            None
        };
        let events = Arc::new(JsEventSink::new(events));
        if has_event_bus {
            events.set_listened("*");
        }
        Ok(JsRuntime {
            invoker: Arc::new(JsNodeInvoker::new(
                implementations,
                calls,
                aborts,
                replies.clone(),
                contexts,
            )),
            replies,
            events,
            evaluator,
            object: Some(object.create_ref()?),
        })
    }

    pub fn on(&self, env: &Env, name: &str, listener: Function) -> Result<()> {
        self.forward_listener(env, "on", name, listener)
    }

    pub fn off(&self, env: &Env, name: &str, listener: Function) -> Result<()> {
        self.forward_listener(env, "off", name, listener)
    }

    fn forward_listener(&self, env: &Env, method: &str, name: &str, listener: Function) -> Result<()> {
        let Some(object) = &self.object else {
            return Err(Error::from_reason("the adapter was released"));
        };
        let object = object.get_value(env)?;
        let function: Function<FnArgs<(&str, Function)>, String> = object.get_named_property(method)?;
        let listened = function.apply(object, (name, listener).into())?;
        self.events.set_listened(&listened);
        Ok(())
    }

    /// Drops the reference to the JS runtime object; called from the class finalizer.
    pub fn release(&mut self, env: &Env) -> Result<()> {
        match self.object.take() {
            Some(object) => object.unref(env),
            None => Ok(()),
        }
    }

    /// What stops all traffic to JS, so the process can exit; callable from any thread.
    pub fn closer(&self) -> impl FnOnce() + Send + 'static {
        let invoker = Arc::clone(&self.invoker);
        let events = Arc::clone(&self.events);
        let evaluator = self.evaluator.clone();
        let replies = self.replies.clone();
        move || {
            invoker.close();
            events.close();
            if let Some(evaluator) = evaluator {
                evaluator.close();
            }
            // Calls still waiting learn that the adapter stopped.
            replies.close_all();
        }
    }
}
