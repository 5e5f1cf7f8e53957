//! What every layer's error type shares: a stable code that survives the trip to JavaScript.

pub use crate::engine::{ErrorCause, ErrorDetails};

/// An error that JS callers can branch on by `error.code`, whatever its message says.
pub trait CodedError: std::error::Error {
    /// A stable `ERR_*` identifier; part of the public API, never reworded.
    fn code(&self) -> &'static str;

    /// The run, node, topic or table concerned, and the error underneath.
    fn details(&self) -> ErrorDetails {
        ErrorDetails::default()
    }

    /// This error as the cause of another: its code, message and details.
    fn as_cause(&self) -> ErrorCause {
        ErrorCause {
            code: Some(self.code().to_string()),
            message: self.to_string(),
            details: self.details(),
        }
    }
}

/// Any layer's coded error, for calls that touch several backends.
#[derive(Debug)]
pub struct AnyCodedError(pub Box<dyn CodedError + Send + Sync>);

impl std::fmt::Display for AnyCodedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for AnyCodedError {}

impl CodedError for AnyCodedError {
    fn code(&self) -> &'static str {
        self.0.code()
    }

    fn details(&self) -> ErrorDetails {
        self.0.details()
    }
}

macro_rules! any_coded_from {
    ($($error:ty),*) => {$(
        impl From<$error> for AnyCodedError {
            fn from(error: $error) -> Self {
                AnyCodedError(Box::new(error))
            }
        }
    )*};
}

impl CodedError for crate::engine::EngineError {
    fn code(&self) -> &'static str {
        crate::engine::EngineError::code(self)
    }

    fn details(&self) -> ErrorDetails {
        crate::engine::EngineError::details(self)
    }
}

any_coded_from!(
    crate::engine::EngineError,
    crate::kafka::KafkaError,
    crate::cassandra::CassandraError,
    crate::redis::RedisError,
    crate::http::HttpError
);

/// An adapter used before `start()` connected it (or after `stop()`).
#[derive(Debug)]
pub struct NotStarted;

impl std::fmt::Display for NotStarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the adapter is not connected: call adapter.start() first")
    }
}

impl std::error::Error for NotStarted {}

impl CodedError for NotStarted {
    fn code(&self) -> &'static str {
        crate::engine::traits::NOT_STARTED
    }
}
