//! The napi-facing surface: converts JS values, forwards to the layers below. No workflow
//! logic lives here.

// Only JS calls these; in test builds napi registers nothing, so they look unused.
#![cfg_attr(test, allow(dead_code))]

#[macro_use]
mod run_api;
mod adapter_core;
mod cassandra_context;
mod connectivity;
mod diagnostics;
mod errors;
mod in_memory_adapter;
mod js_nodes;
mod json;
mod kafka_adapter;
mod kafka_options;
mod logging_options;
mod metrics_options;
mod options;
mod reconciler;
mod redis_store;
mod run_many;
mod runtime_options;
