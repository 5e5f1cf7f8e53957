//! Errors of the Redis backend, one variant per failing operation.

use crate::engine::BackendError;
use crate::errors::{CodedError, ErrorCause, ErrorDetails};

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
    /// The engine's view of this error: the operation, a message with the command and the
    /// key, and this error as the cause (the engine redelivers the job).
    pub fn into_backend(self, operation: &'static str) -> BackendError {
        BackendError::new(operation, self.to_string()).caused_by(self.as_cause())
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

    fn details(&self) -> ErrorDetails {
        let cause = match self {
            RedisError::Config { .. } => None,
            RedisError::Unreachable { cause, .. } | RedisError::Command { cause, .. } => Some(cause),
        };
        ErrorDetails {
            cause: cause.map(|cause| ErrorCause::client(redis_reply_code(cause), cause.clone())),
            ..ErrorDetails::default()
        }
    }
}

/// The code of a Redis error reply (`WRONGTYPE`, `NOSCRIPT`, `NOPERM`, `WRONGPASS`...): its
/// first word, in capitals. fred writes its errors as `<kind>: <details>`, the reply in the
/// details.
fn redis_reply_code(message: &str) -> Option<String> {
    let details = message.split_once(": ").map_or(message, |(_, details)| details);
    let word = details.split_whitespace().next()?;
    let reply_code = word.len() >= 3 && word.chars().all(|c| c.is_ascii_uppercase());
    reply_code.then(|| word.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_codes_are_read_from_fred_messages() {
        let wrong_type = "Unknown Error: WRONGTYPE Operation against a key holding the wrong kind of value";
        assert_eq!(redis_reply_code(wrong_type).as_deref(), Some("WRONGTYPE"));
        assert_eq!(
            redis_reply_code("Timeout Error: Request timed out.").as_deref(),
            None
        );
        assert_eq!(
            redis_reply_code("IO Error: Connection refused (os error 111)"),
            None
        );
    }

    #[test]
    fn a_command_error_becomes_the_cause_of_the_engines_backend_error() {
        let error = RedisError::Command {
            command: "HSET",
            key: "run:{r}".into(),
            cause: "Unknown Error: WRONGTYPE Operation against a key".into(),
        };
        let backend = error.into_backend("finish job");
        assert!(
            !backend.message.contains("ERR_REDIS_COMMAND"),
            "{}",
            backend.message
        );
        let cause = backend.cause.expect("a cause");
        assert_eq!(cause.code.as_deref(), Some("ERR_REDIS_COMMAND"));
        let reply = cause.details.cause.expect("the reply");
        assert_eq!(reply.code.as_deref(), Some("WRONGTYPE"));
    }
}
