//! The workflow engine: pure Rust, no napi, no I/O clients. It runs
//! Flowcraft blueprints with the target semantics T1-T14 and talks to the
//! world only through the traits in `traits`, `invoker`, `events` and
//! `evaluator`.
//!
//! Reading order:
//! - model: `blueprint` (JSON), `policy` (config), `validate` (load-time
//!   problems), `analysis` (start nodes, predecessors, fallback-only nodes);
//! - seams: `traits` (transport, stores, timer, clock), `invoker` (user
//!   nodes), `evaluator`, `events`, `abort`;
//! - semantics: `inputs` (§2.5/T13), `routing` (§4/T5), `fanin` (joins),
//!   `retry` (attempts, timeouts, fallback), `builtins` (wait, sleep,
//!   subflow, batch, loop-controller), `completion` (outstanding work, final
//!   results), `resume`;
//! - flow: `lifecycle` (start, per-job handler, advance, worker loop) and
//!   `api` (the `Engine` the bindings call).

pub mod abort;
pub mod analysis;
pub mod api;
pub mod awaiting;
pub mod blueprint;
pub mod builtins;
pub mod cancel;
pub mod completion;
pub mod config;
pub mod cycles;
pub mod error;
pub mod evaluator;
pub mod events;
pub mod fanin;
pub mod frontier;
pub mod inputs;
pub mod invoker;
pub mod job;
pub mod keys;
pub mod lifecycle;
pub mod limits;
pub mod log;
pub mod policy;
pub mod reconcile;
pub mod resume;
pub mod retry;
pub mod routing;
pub mod run;
pub mod run_io;
pub mod run_state;
pub mod shared;
pub mod step;
pub mod telemetry;
pub mod trace;
pub mod traits;
pub mod validate;
pub mod working;

pub use self::abort::AbortSignal;
pub use self::api::Engine;
pub use self::blueprint::{EdgeDefinition, NodeDefinition, WorkflowBlueprint};
pub use self::config::EngineConfig;
pub use self::error::{EngineError, ErrorCause, ErrorDetails};
pub use self::evaluator::{Evaluator, PropertyEvaluator};
pub use self::events::{EngineEvent, EventKind, EventSink, NoEvents};
pub use self::invoker::{NodeCall, NodeFailure, NodeInvoker, NodeReturn};
pub use self::job::Job;
pub use self::log::Logger;
pub use self::reconcile::Reconciled;
pub use self::run::{
    IfRunExists, PublishedResult, RunRecord, RunResult, RunStatus, StartOptions, VersionSeed,
};
pub use self::shared::EngineBackends;
pub use self::telemetry::{JobOutcome, NoTelemetry, Telemetry};
pub use self::traits::{
    BackendError, BoxFuture, Clock, ContextOp, ContextStore, CoordinationStore, Delivery, DeliveryReceipt,
    JobDisposition, JobFinish, JobFinished, JobStart, JobTransport, JoinArrival, Reservation, SetAdd,
    StatusStore, Timer,
};
