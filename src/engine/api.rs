//! The engine's public API: what the bindings call.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::engine::abort::AbortSignal;
use crate::engine::analysis::BlueprintPlan;
use crate::engine::blueprint::WorkflowBlueprint;
use crate::engine::config::EngineConfig;
use crate::engine::error::EngineError;
use crate::engine::invoker::NodeInvoker;
use crate::engine::job::Job;
use crate::engine::lifecycle::handler::handle_job;
use crate::engine::lifecycle::start::start_run_internal;
use crate::engine::lifecycle::worker::{spawn_worker, WorkerHandle};
use crate::engine::limits;
use crate::engine::resume;
use crate::engine::run::{PublishedResult, RunRecord, RunResult, RunStatus, StartOptions};
use crate::engine::shared::{EngineBackends, EngineCore};
use crate::engine::traits::JobDisposition;
use crate::engine::validate::{has_errors, validate_blueprints, Severity, ValidationIssue};

pub struct Engine {
    core: Arc<EngineCore>,
    worker: Mutex<Option<WorkerHandle>>,
    warnings: Vec<ValidationIssue>,
}

impl Engine {
    /// Validates every blueprint (all problems at once) and builds the engine.
    pub fn new(
        blueprints: Vec<WorkflowBlueprint>,
        invoker: Arc<dyn NodeInvoker>,
        backends: EngineBackends,
        config: EngineConfig,
    ) -> Result<Self, EngineError> {
        let has = |uses: &str| invoker.has(uses);
        let mut issues = validate_blueprints(&blueprints, &has);
        if config.strict {
            let cyclic = blueprints.iter().filter_map(|bp| {
                let cycle = crate::engine::cycles::find_cycles(bp).into_iter().next()?;
                Some(strictness_issue(&bp.id, &cycle))
            });
            issues.extend(cyclic);
        }
        if has_errors(&issues) {
            return Err(EngineError::InvalidBlueprints { issues });
        }
        let warnings = issues
            .into_iter()
            .filter(|i| i.severity == Severity::Warning)
            .collect();
        let plans = blueprints
            .into_iter()
            .map(|bp| (bp.id.clone(), BlueprintPlan::new(bp)))
            .collect();
        let core = EngineCore {
            plans,
            invoker,
            backends,
            config,
            in_flight: Default::default(),
            jobs_in_flight: Default::default(),
            run_state: Default::default(),
            arrival_writes: Default::default(),
            shutdown: Mutex::new(AbortSignal::new()),
        };
        Ok(Self {
            core: Arc::new(core),
            worker: Mutex::new(None),
            warnings,
        })
    }

    /// Problems that did not prevent loading (e.g. a `uses` with no implementation).
    pub fn warnings(&self) -> &[ValidationIssue] {
        &self.warnings
    }

    /// Where the engine's diagnostics go.
    pub fn logger(&self) -> &crate::engine::Logger {
        self.core.log()
    }

    pub fn blueprint(&self, id: &str) -> Option<&WorkflowBlueprint> {
        self.core.plan(id).map(|p| &p.blueprint)
    }

    /// Starts the worker loop on the current tokio runtime.
    pub fn start(&self) -> Result<(), EngineError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(EngineError::WorkerStart {
                message: "no tokio runtime".into(),
            });
        }
        let mut worker = self.worker.lock().map_err(|_| EngineError::WorkerStart {
            message: "worker lock poisoned".into(),
        })?;
        if worker.is_some() {
            return Err(EngineError::WorkerStart {
                message: "already started".into(),
            });
        }
        self.core.reset_shutdown();
        *worker = Some(spawn_worker(self.core.clone()));
        Ok(())
    }

    /// Stops taking jobs; in-flight jobs get `config.shutdown_grace` to
    /// finish, then their abort signals fire and they are handed back for
    /// redelivery.
    pub async fn stop(&self) {
        let handle = self.worker.lock().ok().and_then(|mut w| w.take());
        if let Some(handle) = handle {
            handle.stop(&self.core, self.core.config.shutdown_grace).await;
        }
    }

    /// Seeds the context and enqueues the start nodes; returns the run id. A given run id
    /// and the initial context are checked against the limits first (`limits`).
    pub async fn start_run(
        &self,
        blueprint_id: &str,
        initial_context: Map<String, Value>,
        options: StartOptions,
    ) -> Result<String, EngineError> {
        if let Some(run_id) = &options.run_id {
            if let Some(reason) = limits::run_id_problem(run_id) {
                return Err(EngineError::InvalidRunId {
                    run_id: limits::shown_run_id(run_id),
                    reason,
                });
            }
        }
        if let Some(message) = limits::context_problem("the initial context's", &initial_context) {
            return Err(EngineError::InvalidInput { message });
        }
        if options.strict {
            if let Some(cycle) = self.core.plan(blueprint_id).and_then(|p| p.first_cycle.as_ref()) {
                let issues = vec![strictness_issue(blueprint_id, cycle)];
                return Err(EngineError::InvalidBlueprints { issues });
            }
        }
        start_run_internal(&self.core, blueprint_id, initial_context, options).await
    }

    /// Resolves when the run is `awaiting`, `completed` or `failed`.
    pub async fn wait_for_run(
        &self,
        run_id: &str,
        timeout: Option<Duration>,
    ) -> Result<RunResult, EngineError> {
        let backends = &self.core.backends;
        let wait = backends.status.wait_for_result(run_id);
        let record = match timeout {
            Some(limit) => {
                tokio::time::timeout(limit, wait)
                    .await
                    .map_err(|_| EngineError::WaitTimedOut {
                        run_id: run_id.to_string(),
                        timeout_ms: limit.as_millis() as u64,
                    })?
            }
            None => wait.await,
        }
        .map_err(EngineError::backend(run_id))?;
        let (carried, reason, failed_node, published_at_ms) = match record.status_data {
            Some(data) => (data.context, data.reason, data.failed_node, data.published_at_ms),
            None => (None, None, None, 0),
        };
        // A completed result carries the final context; other results are read back.
        let mut context = match carried {
            Some(context) if record.status == RunStatus::Completed => context,
            _ => backends
                .context
                .load(run_id)
                .await
                .map_err(EngineError::backend(run_id))?,
        };
        crate::engine::awaiting::present(&mut context);
        Ok(RunResult {
            run_id: run_id.to_string(),
            status: record.status,
            context,
            reason,
            failed_node,
            published_at_ms,
        })
    }

    /// Starts a run and waits for its first result (`completed`, `failed`
    /// or `awaiting`).
    pub async fn run(
        &self,
        blueprint_id: &str,
        initial_context: Map<String, Value>,
        options: StartOptions,
        timeout: Option<Duration>,
    ) -> Result<RunResult, EngineError> {
        let run_id = self.start_run(blueprint_id, initial_context, options).await?;
        self.wait_for_run(&run_id, timeout).await
    }

    /// The run's status row, if the run exists.
    pub async fn run_status(&self, run_id: &str) -> Result<Option<RunRecord>, EngineError> {
        self.core
            .backends
            .status
            .get(run_id)
            .await
            .map_err(EngineError::backend(run_id))
    }

    pub async fn resume_with_action(
        &self,
        run_id: &str,
        action: &str,
        output: Option<Value>,
    ) -> Result<(), EngineError> {
        resume::resume_with_action(&self.core, run_id, action, output).await
    }

    /// As FlowRuntime's `resume`: continues one waiting node (`node_id`, else the first)
    /// with `data`'s output, along the edges of its action if it has one and the
    /// action-less ones; other waiting nodes keep waiting.
    pub async fn resume(
        &self,
        run_id: &str,
        data: resume::ResumeData,
        node_id: Option<&str>,
    ) -> Result<(), EngineError> {
        let target = node_id.map_or(resume::ResumeTarget::First, resume::ResumeTarget::Node);
        resume::resume(&self.core, run_id, data, target).await
    }

    /// Ends the run `cancelled` (see `cancel`); ERR_RUN_FINISHED when it completed or
    /// failed first.
    pub async fn cancel(
        &self,
        run_id: &str,
        reason: &str,
    ) -> Result<crate::engine::cancel::Cancelled, EngineError> {
        crate::engine::cancel::cancel_run(&self.core, run_id, reason).await
    }

    /// Brings back a run whose outstanding work has not changed since
    /// `stalled_before_ms` (see `reconcile`).
    pub async fn reconcile_run(
        &self,
        run_id: &str,
        stalled_before_ms: u64,
    ) -> Result<crate::engine::Reconciled, EngineError> {
        crate::engine::reconcile::reconcile_run(&self.core, run_id, stalled_before_ms).await
    }

    /// Every result the run published, oldest first.
    pub async fn published_results(&self, run_id: &str) -> Result<Vec<PublishedResult>, EngineError> {
        self.core
            .backends
            .status
            .published(run_id)
            .await
            .map_err(EngineError::backend(run_id))
    }

    /// Jobs this process is handling right now.
    pub fn in_flight(&self) -> usize {
        self.core.in_flight.load(Ordering::SeqCst)
    }

    #[cfg(test)]
    pub(crate) fn core(&self) -> &EngineCore {
        &self.core
    }

    /// Handles one job directly (for a transport that pushes jobs instead
    /// of being polled by the worker loop).
    pub async fn handle_job(&self, job: Job) -> Result<JobDisposition, EngineError> {
        handle_job(&self.core, job).await
    }
}

/// A strict run refuses a blueprint with a cycle, as FlowRuntime's strictness check does;
/// the issue names the cycle.
fn strictness_issue(blueprint_id: &str, cycle: &[String]) -> ValidationIssue {
    ValidationIssue {
        severity: Severity::Error,
        blueprint_id: blueprint_id.to_string(),
        node_id: cycle.first().cloned(),
        edge_index: None,
        message: format!(
            "has a cycle ({}), and strict mode refuses cycles (loops included)",
            cycle.join(" -> ")
        ),
    }
}
