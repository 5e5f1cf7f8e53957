//! Names of the coordination-store keys the engine uses (prefixed like the
//! reference's `flowcraft:*` keys).

/// Set of tokens (job ids) of a run's outstanding work: queued or running
/// jobs, pending timers, running child runs. Empty = nothing left to run.
pub fn outstanding(run_id: &str) -> String {
    format!("flowcraft:outstanding:{run_id}")
}

/// The job behind an outstanding token (`{"job": .., "atMs": ..}`), so a reconciler can
/// publish it again if it was lost. Read through `CoordinationStore::work_record`: a
/// store may keep it elsewhere (Redis keeps it as the token's value).
pub fn work(run_id: &str, token: &str) -> String {
    format!("flowcraft:work:{run_id}:{token}")
}

/// When the run's outstanding work last changed (ms since 1970).
pub fn progress(run_id: &str) -> String {
    format!("flowcraft:progress:{run_id}")
}

/// Which predecessors of an `'all'` join have arrived.
pub fn fan_in(run_id: &str, node_id: &str) -> String {
    format!("flowcraft:fanin:{run_id}:{node_id}")
}

/// Claimed by the first arrival at an `'any'` join.
pub fn any_join_fired(run_id: &str, node_id: &str) -> String {
    format!("flowcraft:joinlock:{run_id}:{node_id}")
}

/// Set when the job `job_id` completed an `'all'` join (so a re-handled
/// job fires it again instead of losing it).
pub fn join_fired_by(run_id: &str, node_id: &str, job_id: &str) -> String {
    format!("flowcraft:joinfire:{run_id}:{node_id}:{job_id}")
}

/// Claimed when a job's effects are recorded: a redelivery is skipped.
pub fn job_done(run_id: &str, job_id: &str) -> String {
    format!("flowcraft:done:{run_id}:{job_id}")
}

/// The result (`Completion`) a job's first finished handling stored: later handlings
/// record this one instead of their own.
pub fn recorded(run_id: &str, job_id: &str) -> String {
    format!("flowcraft:recorded:{run_id}:{job_id}")
}

/// Set once an edge with a transform fed a node with explicit `inputs`.
pub fn inputs_rewritten(run_id: &str, node_id: &str) -> String {
    format!("flowcraft:inputs-rewritten:{run_id}:{node_id}")
}

/// The parent node waiting on a child run: JSON of a parent `Job`.
pub fn subflow_parent(child_run_id: &str) -> String {
    format!("flowcraft:subflow-parent:{child_run_id}")
}

/// Which workers of a batch finished (for chunked scatter).
pub fn batch_progress(run_id: &str, batch_id: &str) -> String {
    format!("flowcraft:batch:{run_id}:{batch_id}")
}

/// Who claimed the run's final result, and when (`CoordinationStore::claim_final`); like
/// the epoch, kept when the run's other keys are forgotten (`forget_run`).
pub fn final_claim(run_id: &str) -> String {
    format!("flowcraft:final:{run_id}")
}

/// Bumped by every writer of a run other than its owner (see `run_state`); kept when
/// the run's other keys are forgotten (`forget_run`).
pub fn epoch(run_id: &str) -> String {
    format!("flowcraft:epoch:{run_id}")
}
