//! Which run a coordination key belongs to, and the per-run index of keys
//! that lets `forget_run` drop a run's keys and lets any write to a run keep
//! all of its keys alive (no SCAN over the keyspace).

/// Prefix of every key the engine writes (`crate::engine::keys`).
const PREFIX: &str = "flowcraft:";
/// Kind of the per-run index set; never used by the engine for its own keys.
const INDEX_KIND: &str = "runkeys";

/// The run id of `flowcraft:<kind>:<runId>[:...]`, as the memory store reads
/// it (a run id containing ':' is cut at its first ':').
pub fn run_of_key(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PREFIX)?;
    let (kind, rest) = rest.split_once(':')?;
    if kind.is_empty() || kind == INDEX_KIND {
        return None;
    }
    let run_id = rest.split(':').next()?;
    (!run_id.is_empty()).then_some(run_id)
}

/// The set listing every key written for `run_id`.
pub fn index_key(run_id: &str) -> String {
    format!("{PREFIX}{INDEX_KIND}:{run_id}")
}

/// `[key]`, plus its run's index key when the key belongs to a run.
pub fn script_keys(key: &str) -> Vec<String> {
    match run_of_key(key) {
        Some(run_id) => vec![key.to_string(), index_key(run_id)],
        None => vec![key.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::keys;

    #[test]
    fn every_engine_key_belongs_to_its_run() {
        let run = "0b7c6f1e-run";
        for key in [
            keys::outstanding(run),
            keys::fan_in(run, "join"),
            keys::any_join_fired(run, "join"),
            keys::join_fired_by(run, "join", "job-1"),
            keys::job_done(run, "job-1"),
            keys::inputs_rewritten(run, "n"),
            keys::subflow_parent(run),
            keys::batch_progress(run, "b"),
        ] {
            assert_eq!(run_of_key(&key), Some(run), "{key}");
        }
        assert_eq!(run_of_key("other:key"), None);
        assert_eq!(run_of_key("flowcraft:plain"), None);
        assert_eq!(run_of_key(&index_key(run)), None);
        assert_eq!(
            script_keys("flowcraft:done:r:j"),
            ["flowcraft:done:r:j", "flowcraft:runkeys:r"]
        );
    }
}
