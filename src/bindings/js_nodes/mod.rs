//! Calling users' JS node implementations, evaluator and event listeners from the engine.

mod batched_call;
mod channel;
mod evaluator;
mod events;
mod invoker;
mod live_contexts;
mod logger;
mod outcome;
mod runtime;

pub use logger::{logger_problems, JsLogSink};
pub use runtime::{registry_entries, JsRuntime, NodeLogging, UserCode};
