//! All memory backends wired together.

use std::sync::Arc;

use crate::engine::evaluator::{Evaluator, PropertyEvaluator};
use crate::engine::events::EventSink;
use crate::engine::shared::EngineBackends;
use crate::memory::{
    MemoryContextStore, MemoryCoordinationStore, MemoryJobQueue, MemoryStatusStore, RecordingEventSink,
    SystemClock, TokioTimer,
};

#[derive(Clone)]
pub struct MemoryBackend {
    pub queue: Arc<MemoryJobQueue>,
    pub context: Arc<MemoryContextStore>,
    pub status: Arc<MemoryStatusStore>,
    pub coordination: Arc<MemoryCoordinationStore>,
    pub timer: Arc<TokioTimer>,
    pub events: Arc<RecordingEventSink>,
    pub clock: Arc<SystemClock>,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    pub fn new() -> Self {
        let queue = Arc::new(MemoryJobQueue::new());
        let clock = Arc::new(SystemClock);
        Self {
            timer: Arc::new(TokioTimer::new(queue.clone(), clock.clone())),
            queue,
            context: Arc::default(),
            status: Arc::default(),
            coordination: Arc::default(),
            events: Arc::default(),
            clock,
        }
    }

    /// The engine's view, with the default property evaluator.
    pub fn backends(&self) -> EngineBackends {
        self.backends_with(Arc::new(PropertyEvaluator), self.events.clone())
    }

    pub fn backends_with(&self, evaluator: Arc<dyn Evaluator>, events: Arc<dyn EventSink>) -> EngineBackends {
        EngineBackends {
            transport: self.queue.clone(),
            context: self.context.clone(),
            status: self.status.clone(),
            coordination: self.coordination.clone(),
            timer: self.timer.clone(),
            events,
            telemetry: Arc::new(crate::engine::NoTelemetry),
            logger: crate::engine::Logger::default(),
            clock: self.clock.clone(),
            evaluator,
        }
    }

    /// Nothing queued, nothing being handled, no timer pending.
    pub fn is_idle(&self) -> bool {
        self.queue.outstanding() == 0 && self.timer.pending() == 0
    }
}
