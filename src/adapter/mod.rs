//! Composition: the engine wired to concrete backends. Pure Rust, no napi: the bindings
//! call this and only convert values.

pub mod announced_status;
pub mod distributed;
pub mod metrics_service;
pub mod reconciler;
pub mod slots;
