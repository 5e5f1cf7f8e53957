//! The state shared by the engine's public API and its workers.

use crate::engine::lifecycle::in_flight::JobsInFlight;
use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::engine::abort::AbortSignal;
use crate::engine::analysis::BlueprintPlan;
use crate::engine::config::EngineConfig;
use crate::engine::evaluator::Evaluator;
use crate::engine::events::{EngineEvent, EventKind, EventSink};
use crate::engine::invoker::NodeInvoker;
use crate::engine::lifecycle::arrival_writes::ArrivalWrites;
use crate::engine::log::Logger;
use crate::engine::run_state::RunStateCache;
use crate::engine::telemetry::Telemetry;
use crate::engine::traits::{Clock, ContextStore, CoordinationStore, JobTransport, StatusStore, Timer};

/// The backends the engine talks to.
#[derive(Clone)]
pub struct EngineBackends {
    pub transport: Arc<dyn JobTransport>,
    pub context: Arc<dyn ContextStore>,
    pub status: Arc<dyn StatusStore>,
    pub coordination: Arc<dyn CoordinationStore>,
    pub timer: Arc<dyn Timer>,
    pub events: Arc<dyn EventSink>,
    pub telemetry: Arc<dyn Telemetry>,
    /// Where every layer's diagnostics go (the adapter's `logger`, else stderr).
    pub logger: Logger,
    pub clock: Arc<dyn Clock>,
    pub evaluator: Arc<dyn Evaluator>,
}

pub struct EngineCore {
    pub plans: HashMap<String, Arc<BlueprintPlan>>,
    pub invoker: Arc<dyn NodeInvoker>,
    pub backends: EngineBackends,
    pub config: EngineConfig,
    /// Jobs being handled by this process right now.
    pub in_flight: AtomicUsize,
    /// Which job ids those are: a duplicate waits for its first copy.
    pub jobs_in_flight: JobsInFlight,
    /// The runs this worker owns, in memory (see `run_state`).
    pub run_state: RunStateCache,
    /// Which join arrivals' writes this process stored (see `lifecycle::arrival_writes`).
    pub arrival_writes: ArrivalWrites,
    /// Fires when `stop()`'s grace period is over: in-flight node calls
    /// abort. Replaced by a fresh signal on every `start()`.
    pub shutdown: Mutex<AbortSignal>,
}

impl EngineCore {
    pub fn plan(&self, blueprint_id: &str) -> Option<&Arc<BlueprintPlan>> {
        self.plans.get(blueprint_id)
    }

    /// The current shutdown signal (see `shutdown`).
    pub fn shutdown_signal(&self) -> AbortSignal {
        self.shutdown.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// A new run of the worker gets a signal that has not fired.
    pub fn reset_shutdown(&self) {
        if let Ok(mut signal) = self.shutdown.lock() {
            *signal = AbortSignal::new();
        }
    }

    pub fn log(&self) -> &Logger {
        &self.backends.logger
    }

    pub fn telemetry(&self) -> &dyn Telemetry {
        self.backends.telemetry.as_ref()
    }

    pub fn now_ms(&self) -> u64 {
        self.backends.clock.now_ms()
    }

    /// Emits an event; `data` is only built when someone listens.
    pub fn emit(
        &self,
        kind: EventKind,
        run_id: &str,
        blueprint_id: &str,
        node_id: Option<&str>,
        attempt: Option<u32>,
        data: impl FnOnce() -> Value,
    ) {
        let sink = &self.backends.events;
        if !sink.wants(kind) {
            return;
        }
        sink.emit(EngineEvent {
            kind,
            run_id: run_id.to_string(),
            blueprint_id: blueprint_id.to_string(),
            node_id: node_id.map(str::to_string),
            attempt,
            timestamp_ms: self.now_ms(),
            data: data(),
        });
    }
}
