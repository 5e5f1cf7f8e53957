//! Redis backend (fred): connection and the coordination commands Flowcraft's
//! `ICoordinationStore` needs.

pub mod coordination;
pub mod error;
pub mod options;

pub use coordination::CoordinationClient;
pub use error::RedisError;
pub use options::RedisOptions;
