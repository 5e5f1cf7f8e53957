//! Errors of the Redis backend, one variant per failing operation.

use crate::engine::BackendError;
use crate::errors::CodedError;

#[derive(Debug)]
pub enum RedisError {
    /// The URL or another setting is invalid.
    Config { reason: String },
    /// No connection within the timeout.
    Unreachable {
        url: String,
        timeout_ms: u64,
        cause: String,
    },
    /// A command failed: which command, which key.
    Command {
        command: &'static str,
        key: String,
        cause: String,
    },
}

impl std::fmt::Display for RedisError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisError::Config { reason } => write!(f, "invalid Redis settings: {reason}"),
            RedisError::Unreachable {
                url,
                timeout_ms,
                cause,
            } => write!(
                f,
                "Redis unreachable at {url}: no connection within {timeout_ms} ms ({cause})"
            ),
            RedisError::Command { command, key, cause } => {
                write!(f, "Redis {command} '{key}' failed: {cause}")
            }
        }
    }
}

impl std::error::Error for RedisError {}

impl RedisError {
    /// The engine's view of this error: the operation, and a message with the
    /// code, the command and the key (the engine redelivers the job).
    pub fn into_backend(self, operation: &'static str) -> BackendError {
        BackendError::new(operation, format!("{} ({})", self, self.code()))
    }
}

impl CodedError for RedisError {
    fn code(&self) -> &'static str {
        match self {
            RedisError::Config { .. } => "ERR_REDIS_CONFIG",
            RedisError::Unreachable { .. } => "ERR_REDIS_UNREACHABLE",
            RedisError::Command { .. } => "ERR_REDIS_COMMAND",
        }
    }
}
