//! Attempts of a user node: retries, delays, timeouts, and the fallback.

pub mod attempt;
pub mod fallback;
