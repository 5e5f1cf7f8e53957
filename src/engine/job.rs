//! The job payload: one unit of work for a worker, `{runId, blueprintId,
//! nodeId, attempt?}` as the reference, plus the id that makes its
//! bookkeeping idempotent.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::engine::trace::JobRefs;

/// What the job asks the worker to do with its node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobPhase {
    /// Run the node (an attempt of it).
    #[default]
    Execute,
    /// Continue a node that paused on something durable: a `sleep` timer
    /// that fired, or a `subflow` child run that finished.
    Wake,
}

impl JobPhase {
    fn is_execute(&self) -> bool {
        *self == JobPhase::Execute
    }
}

/// A batch worker created by `batch-scatter`: not part of the static
/// blueprint, so the job carries its definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DynamicNode {
    pub uses: String,
    /// Context key the worker reads its item from.
    pub input_key: String,
    pub scatter_node_id: String,
    pub gather_node_id: String,
    pub batch_id: String,
    pub index: usize,
    pub total: usize,
    pub chunk_size: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub run_id: String,
    pub blueprint_id: String,
    pub node_id: String,
    /// 1-based attempt to start with (retries after a delay); absent = 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Unique id; also the run's outstanding-work token for this job.
    pub job_id: String,
    #[serde(default, skip_serializing_if = "JobPhase::is_execute")]
    pub phase: JobPhase,
    /// On a retry: what the class node's `prep` returned on an earlier attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepared: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic: Option<DynamicNode>,
    /// On the start job of a new run: the context the client wrote, so the run's owner
    /// need not read it back (see `run_io::begin_job` for when it may be used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<RunSeed>,
    /// Decoded from the reference adapter's payload (no `jobId`): the id was made up
    /// on arrival, so no run can have reserved it (see `lifecycle::admission`).
    /// Trace and lineage: the run's trace, the span and job that led here (`trace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refs: Option<JobRefs>,
    #[serde(skip)]
    pub reference_format: bool,
    /// When the transport received it for publication (Kafka: the message timestamp),
    /// for the hop latency; never written.
    #[serde(skip)]
    pub published_at_ms: Option<u64>,
}

/// A new run's context as its client wrote it, and the run's epoch right after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSeed {
    pub epoch: u64,
    pub context: Map<String, Value>,
}

impl Job {
    pub fn new(run_id: &str, blueprint_id: &str, node_id: &str) -> Self {
        Self {
            run_id: run_id.to_string(),
            blueprint_id: blueprint_id.to_string(),
            node_id: node_id.to_string(),
            attempt: None,
            job_id: new_job_id(),
            phase: JobPhase::Execute,
            prepared: None,
            dynamic: None,
            seed: None,
            refs: None,
            reference_format: false,
            published_at_ms: None,
        }
    }

    /// A job whose id derives from `origin` (see `derive_job_id`).
    pub fn derived(run_id: &str, blueprint_id: &str, node_id: &str, origin: &str, purpose: &str) -> Self {
        Self {
            job_id: derive_job_id(origin, purpose),
            ..Self::new(run_id, blueprint_id, node_id)
        }
    }

    /// The job that starts `node_id` in a new run: under a random id, or one derived from
    /// `origin` (the job that starts the run, so that its redelivery starts the same jobs).
    pub fn start(run_id: &str, blueprint_id: &str, node_id: &str, origin: Option<&str>) -> Self {
        match origin {
            Some(origin) => Self::derived(run_id, blueprint_id, node_id, origin, &format!("start:{node_id}")),
            None => Self::new(run_id, blueprint_id, node_id),
        }
    }

    pub fn first_attempt(&self) -> u32 {
        self.attempt.unwrap_or(1).max(1)
    }
}

/// Time-ordered unique ids, so job ids sort roughly by creation.
pub fn new_job_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A job id derived from the job (or run) that creates it and why. A job
/// that is handled again after a crash creates the same follow-up ids, so
/// its outstanding-work tokens and published jobs are not duplicated (a
/// duplicate delivery is skipped by the done-guard).
pub fn derive_job_id(origin: &str, purpose: &str) -> String {
    // FNV-1a, 128 bits: stable across processes and versions.
    let mut hash: u128 = 0x6c62272e07bb014262b821756295c58d;
    for byte in origin.bytes().chain([0u8]).chain(purpose.bytes()) {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(0x0000000001000000000000000000013b);
    }
    uuid::Uuid::from_u128(hash).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        assert_eq!(derive_job_id("j1", "next:b"), derive_job_id("j1", "next:b"));
        assert_ne!(derive_job_id("j1", "next:b"), derive_job_id("j1", "next:c"));
        assert_ne!(derive_job_id("j1", "next:b"), derive_job_id("j2", "next:b"));
        assert_ne!(derive_job_id("ab", "c"), derive_job_id("a", "bc"));
    }

    #[test]
    fn job_serializes_like_the_reference_payload() {
        let mut job = Job::new("r1", "bp", "a");
        job.job_id = "j".into();
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"runId": "r1", "blueprintId": "bp", "nodeId": "a", "jobId": "j"})
        );
        let back: Job = serde_json::from_value(json).unwrap();
        assert_eq!(back, job);
    }
}
