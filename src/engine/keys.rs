//! Names of the coordination-store keys the engine uses (prefixed like the
//! reference's `flowcraft:*` keys): `flowcraft:<kind>:<run>[:...]`, where `<run>` is the
//! run id with `%` and `:` escaped (`run_key_part`), so that no run's keys can be read as
//! another's (run `X:b`'s join state is not under run `X`).

use std::borrow::Cow;

/// The run id as it appears in keys: `%` -> `%25`, `:` -> `%3A` (no `:` is left in it).
pub fn run_key_part(run_id: &str) -> Cow<'_, str> {
    if !run_id.contains([':', '%']) {
        return Cow::Borrowed(run_id);
    }
    Cow::Owned(run_id.replace('%', "%25").replace(':', "%3A"))
}

/// Set of tokens (job ids) of a run's outstanding work: queued or running
/// jobs, pending timers, running child runs. Empty = nothing left to run.
pub fn outstanding(run_id: &str) -> String {
    format!("flowcraft:outstanding:{}", run_key_part(run_id))
}

/// The job behind an outstanding token (`{"job": .., "atMs": ..}`), so a reconciler can
/// publish it again if it was lost. Read through `CoordinationStore::work_record`: a
/// store may keep it elsewhere (Redis keeps it as the token's value).
pub fn work(run_id: &str, token: &str) -> String {
    format!("flowcraft:work:{}:{token}", run_key_part(run_id))
}

/// When the run's outstanding work last changed (ms since 1970).
pub fn progress(run_id: &str) -> String {
    format!("flowcraft:progress:{}", run_key_part(run_id))
}

/// Which predecessors of an `'all'` join have arrived.
pub fn fan_in(run_id: &str, node_id: &str) -> String {
    format!("flowcraft:fanin:{}:{node_id}", run_key_part(run_id))
}

/// Claimed by the first arrival at an `'any'` join.
pub fn any_join_fired(run_id: &str, node_id: &str) -> String {
    format!("flowcraft:joinlock:{}:{node_id}", run_key_part(run_id))
}

/// Set when the job `job_id` completed an `'all'` join (so a re-handled
/// job fires it again instead of losing it).
pub fn join_fired_by(run_id: &str, node_id: &str, job_id: &str) -> String {
    format!("flowcraft:joinfire:{}:{node_id}:{job_id}", run_key_part(run_id))
}

/// Claimed when a job's effects are recorded: a redelivery is skipped.
pub fn job_done(run_id: &str, job_id: &str) -> String {
    format!("flowcraft:done:{}:{job_id}", run_key_part(run_id))
}

/// The result (`Completion`) a job's first finished handling stored: later handlings
/// record this one instead of their own.
pub fn recorded(run_id: &str, job_id: &str) -> String {
    format!("flowcraft:recorded:{}:{job_id}", run_key_part(run_id))
}

/// Set once an edge with a transform fed a node with explicit `inputs`.
pub fn inputs_rewritten(run_id: &str, node_id: &str) -> String {
    format!("flowcraft:inputs-rewritten:{}:{node_id}", run_key_part(run_id))
}

/// The parent node waiting on a child run: JSON of a parent `Job`.
pub fn subflow_parent(child_run_id: &str) -> String {
    format!("flowcraft:subflow-parent:{}", run_key_part(child_run_id))
}

/// Which workers of a batch finished (for chunked scatter).
pub fn batch_progress(run_id: &str, batch_id: &str) -> String {
    format!("flowcraft:batch:{}:{batch_id}", run_key_part(run_id))
}

/// Who claimed the run's final result, and when (`CoordinationStore::claim_final`); like
/// the epoch, kept when the run's other keys are forgotten (`forget_run`).
pub fn final_claim(run_id: &str) -> String {
    format!("flowcraft:final:{}", run_key_part(run_id))
}

/// Set once a reference-format job started the run (`lifecycle::admission`).
pub fn reference_run(run_id: &str) -> String {
    format!("flowcraft:reference:{}", run_key_part(run_id))
}

/// The id of the reference-format job that started `node_id` of the run.
pub fn reference_start(run_id: &str, node_id: &str) -> String {
    format!("flowcraft:reference-start:{}:{node_id}", run_key_part(run_id))
}

/// Bumped by every writer of a run other than its owner (see `run_state`); kept when
/// the run's other keys are forgotten (`forget_run`).
pub fn epoch(run_id: &str) -> String {
    format!("flowcraft:epoch:{}", run_key_part(run_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_with_separators_or_escapes_never_share_a_key() {
        assert_eq!(fan_in("X:b", "join"), "flowcraft:fanin:X%3Ab:join");
        assert_ne!(fan_in("X", "b:join"), fan_in("X:b", "join"));
        assert_ne!(epoch("a%3Ab"), epoch("a:b"));
        assert_eq!(run_key_part("plain-id"), "plain-id");
        assert!(!run_key_part("a:b%c").contains(':'));
    }
}
