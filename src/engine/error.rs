//! The engine layer's error: one variant per failing operation, each with
//! the run / blueprint / node it concerns.

use std::fmt;

use crate::engine::traits::BackendError;
use crate::engine::validate::ValidationIssue;

/// Where an error happened, beyond its message, and the error underneath it: what a JS
/// error shows as `runId`, `nodeId`, `topic`, `table` and `cause`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorDetails {
    pub run_id: Option<String>,
    pub node_id: Option<String>,
    pub topic: Option<String>,
    pub table: Option<String>,
    pub cause: Option<Box<ErrorCause>>,
}

/// An error underneath another: its code when it has one (a backend's `ERR_*`, Redis's
/// `WRONGTYPE`, librdkafka's `MsgSizeTooLarge`), its message, and its own details.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorCause {
    pub code: Option<String>,
    pub message: String,
    pub details: ErrorDetails,
}

impl ErrorCause {
    /// A client library's error, known only by its message and perhaps a code.
    pub fn client(code: Option<String>, message: impl Into<String>) -> Box<ErrorCause> {
        Box::new(ErrorCause {
            code,
            message: message.into(),
            details: ErrorDetails::default(),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum EngineError {
    /// Blueprint validation found errors (all of them are listed).
    InvalidBlueprints {
        issues: Vec<ValidationIssue>,
    },
    UnknownBlueprint {
        blueprint_id: String,
    },
    UnknownRun {
        run_id: String,
    },
    /// A run id that cannot name a run (`run_id` is shortened for display).
    InvalidRunId {
        run_id: String,
        reason: String,
    },
    /// `start_run` under the id of a run that exists (started, finished or failed).
    RunExists {
        run_id: String,
    },
    /// Input refused before anything was written: too deep, too big.
    InvalidInput {
        message: String,
    },
    /// A resume of a run that waits on nothing, or not on the node named.
    NotAwaiting {
        run_id: String,
        node_id: Option<String>,
    },
    /// `resume_with_action` on a run that already has its final result.
    RunFinished {
        run_id: String,
        status: &'static str,
    },
    WaitTimedOut {
        run_id: String,
        timeout_ms: u64,
    },
    /// `start()` outside a tokio runtime, or twice.
    WorkerStart {
        message: String,
    },
    /// A backend failed while the engine handled a run.
    Backend {
        run_id: String,
        node_id: Option<String>,
        source: BackendError,
    },
}

impl EngineError {
    /// Maps a backend failure, naming the run.
    pub fn backend(run_id: &str) -> impl Fn(BackendError) -> EngineError + '_ {
        move |source| EngineError::Backend {
            run_id: run_id.to_string(),
            node_id: None,
            source,
        }
    }

    /// Maps a backend failure, naming the run and node.
    pub fn backend_at<'a>(run_id: &'a str, node_id: &'a str) -> impl Fn(BackendError) -> EngineError + 'a {
        move |source| EngineError::Backend {
            run_id: run_id.to_string(),
            node_id: Some(node_id.to_string()),
            source,
        }
    }

    /// A stable code for the bindings' JS errors.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::InvalidBlueprints { .. } => "ERR_INVALID_BLUEPRINT",
            EngineError::UnknownBlueprint { .. } => "ERR_UNKNOWN_BLUEPRINT",
            EngineError::UnknownRun { .. } => "ERR_UNKNOWN_RUN",
            EngineError::InvalidRunId { .. } => "ERR_INVALID_RUN_ID",
            EngineError::RunExists { .. } => "ERR_RUN_EXISTS",
            EngineError::InvalidInput { .. } => "ERR_INVALID_INPUT",
            EngineError::NotAwaiting { .. } => "ERR_RUN_NOT_AWAITING",
            EngineError::RunFinished { .. } => "ERR_RUN_FINISHED",
            EngineError::WaitTimedOut { .. } => "ERR_WAIT_TIMEOUT",
            EngineError::WorkerStart { .. } => "ERR_WORKER_START",
            // Not a failure of the backend: it was never connected (or was closed).
            EngineError::Backend { source, .. } if source.is_not_started() => "ERR_NOT_STARTED",
            EngineError::Backend { .. } => "ERR_BACKEND",
        }
    }

    /// The run and node concerned; for a backend failure, the backend's error as the cause.
    pub fn details(&self) -> ErrorDetails {
        let of_run = |run_id: &str| ErrorDetails {
            run_id: Some(run_id.to_string()),
            ..ErrorDetails::default()
        };
        match self {
            EngineError::UnknownRun { run_id }
            | EngineError::RunExists { run_id }
            | EngineError::NotAwaiting { run_id, .. }
            | EngineError::RunFinished { run_id, .. }
            | EngineError::WaitTimedOut { run_id, .. } => of_run(run_id),
            EngineError::Backend {
                run_id,
                node_id,
                source,
            } => ErrorDetails {
                run_id: Some(run_id.clone()),
                node_id: node_id.clone(),
                cause: Some(
                    source
                        .cause
                        .clone()
                        .unwrap_or_else(|| ErrorCause::client(None, source.to_string())),
                ),
                ..ErrorDetails::default()
            },
            EngineError::InvalidBlueprints { .. }
            | EngineError::UnknownBlueprint { .. }
            | EngineError::InvalidRunId { .. }
            | EngineError::InvalidInput { .. }
            | EngineError::WorkerStart { .. } => ErrorDetails::default(),
        }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::InvalidBlueprints { issues } => {
                write!(f, "invalid blueprints:")?;
                for issue in issues {
                    write!(f, "\n  - {issue}")?;
                }
                Ok(())
            }
            EngineError::UnknownBlueprint { blueprint_id } => {
                write!(
                    f,
                    "Blueprint with ID '{blueprint_id}' not found in the worker's runtime registry."
                )
            }
            EngineError::UnknownRun { run_id } => write!(f, "run '{run_id}' is unknown"),
            EngineError::InvalidRunId { run_id, reason } => write!(f, "run id {run_id} refused: {reason}"),
            EngineError::RunExists { run_id } => write!(
                f,
                "run '{run_id}' exists already: start it under another id, or pass ifExists: 'overwrite'"
            ),
            EngineError::InvalidInput { message } => f.write_str(message),
            EngineError::NotAwaiting {
                run_id,
                node_id: None,
            } => write!(f, "run '{run_id}' is not awaiting a resume"),
            EngineError::NotAwaiting {
                run_id,
                node_id: Some(node),
            } => write!(f, "node '{node}' of run '{run_id}' is not awaiting a resume"),
            EngineError::RunFinished { run_id, status } => {
                write!(f, "run '{run_id}' is already {status}")
            }
            EngineError::WaitTimedOut { run_id, timeout_ms } => {
                write!(f, "run '{run_id}' published no result within {timeout_ms} ms")
            }
            EngineError::WorkerStart { message } => write!(f, "cannot start the worker: {message}"),
            EngineError::Backend {
                run_id,
                node_id,
                source,
            } => {
                write!(f, "{source} (run '{run_id}'")?;
                if let Some(node) = node_id {
                    write!(f, ", node '{node}'")?;
                }
                write!(f, ")")
            }
        }
    }
}

impl std::error::Error for EngineError {}
