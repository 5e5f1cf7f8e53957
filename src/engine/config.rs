//! Engine tuning knobs.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Jobs handled at once by this worker. 1 = one at a time, oldest
    /// first: the deterministic mode the conformance cases assume.
    pub concurrency: usize,
    /// Most jobs taken from the transport in one receive.
    pub batch_max: usize,
    /// On `stop()`: how long in-flight jobs may run before their abort
    /// signals fire.
    pub shutdown_grace: Duration,
    /// Refuse blueprints with a cycle, loops included (FlowRuntime's `strict`).
    pub strict: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            concurrency: 64,
            batch_max: 64,
            shutdown_grace: Duration::from_secs(10),
            strict: false,
        }
    }
}

impl EngineConfig {
    /// One job at a time, FIFO.
    pub fn sequential() -> Self {
        Self {
            concurrency: 1,
            batch_max: 1,
            ..Self::default()
        }
    }
}
