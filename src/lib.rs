//! flowcraft-kafka-native: Flowcraft workflows run natively on Kafka, Cassandra and Redis.
//!
//! Layers (dependencies point down only):
//! - `bindings`: the napi-facing classes; converts and forwards, nothing more.
//! - `engine`: pure Rust workflow semantics, talking to the world through traits.
//! - backends implementing the engine's traits: `kafka`, `cassandra`, `redis`, `memory`.

pub mod adapter;
pub mod cassandra;
pub mod engine;
pub mod errors;
pub mod http;
pub mod kafka;
pub mod memory;
pub mod metrics;
pub mod redis;

mod bindings;
