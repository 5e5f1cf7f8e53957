//! The napi-facing surface: converts JS values, forwards to the layers below. No workflow
//! logic lives here.

mod cassandra_context;
mod connectivity;
mod errors;
mod options;
mod redis_store;
