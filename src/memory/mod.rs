//! In-process implementations of the engine traits: a FIFO job queue,
//! maps for context, status and coordination, tokio timers, the system
//! clock and a recording event sink. Used by `cargo test`, by users' unit
//! tests and for runs without infrastructure.

pub mod backend;
pub mod clock;
pub mod context;
pub mod coordination;
pub mod events;
pub mod status;
pub mod timer;
pub mod transport;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod engine_tests;

pub use self::backend::MemoryBackend;
pub use self::clock::SystemClock;
pub use self::context::MemoryContextStore;
pub use self::coordination::MemoryCoordinationStore;
pub use self::events::RecordingEventSink;
pub use self::status::MemoryStatusStore;
pub use self::timer::TokioTimer;
pub use self::transport::MemoryJobQueue;
