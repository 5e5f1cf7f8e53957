//! Redis backend (fred): the connection, the commands Flowcraft's
//! `ICoordinationStore` needs, and the engine's `CoordinationStore`; TLS and ACL
//! credentials beside the URL.

pub mod coordination;
pub mod coordination_store;
pub mod error;
pub mod options;
mod renewals;
pub mod run_keys;
pub mod scripts;
pub mod tls;

// Need the local stack: built with `--features stack-tests` (see `npm test`).
#[cfg(all(test, feature = "stack-tests"))]
mod tests;

pub use coordination::CoordinationClient;
pub use coordination_store::{CoordinationSettings, RedisCoordination, DEFAULT_KEY_TTL};
pub use error::RedisError;
pub use options::{RedisOptions, RedisTls};
