//! The life of a run: starting it, handling each job, recording a node's
//! effects and routing on, and the worker loop that feeds jobs in.

pub mod accept;
pub mod admission;
pub mod advance;
pub mod arrival_writes;
pub mod finish;
pub mod handler;
pub mod in_flight;
pub mod origin;
pub mod start;
pub mod version;
pub mod worker;
