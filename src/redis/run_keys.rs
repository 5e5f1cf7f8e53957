//! Where an engine key lives in Redis: every key of a run is a field of one hash per
//! run (`flowcraft:run:<runId>`), so a script touches exactly one Redis key (it works on
//! Redis Cluster), one EXPIRE keeps the whole run alive and one DEL forgets it, with no
//! index of keys to maintain.
//!
//! A string key is the field `=<name>`; a set is one field per member,
//! `+<length of name>:<name><member>` (the length makes names and members that contain
//! any character unambiguous), plus its size in `#<name>`. `<name>` is the engine key
//! without the `flowcraft:` prefix and the run id (`done:<jobId>`, `outstanding`).

use crate::engine::keys;

/// Prefix of every key the engine writes (`crate::engine::keys`).
const PREFIX: &str = "flowcraft:";
/// Kind of the per-run hash; never used by the engine for its own keys.
const RUN_KIND: &str = "run";

/// The run of `flowcraft:<kind>:<run>[:...]`, as keys spell it (`keys::run_key_part`:
/// escaped, so it holds no ':').
pub fn run_of_key(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PREFIX)?;
    let (kind, rest) = rest.split_once(':')?;
    if kind.is_empty() || kind == RUN_KIND {
        return None;
    }
    let run_id = rest.split(':').next()?;
    (!run_id.is_empty()).then_some(run_id)
}

/// The hash holding every key of `run_id`.
pub fn run_hash(run_id: &str) -> String {
    hash_of(&keys::run_key_part(run_id))
}

/// The hash of the run spelled `run_part` in keys.
fn hash_of(run_part: &str) -> String {
    format!("{PREFIX}{RUN_KIND}:{run_part}")
}

/// A key's place: the Redis hash and the key's name inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub hash: String,
    name: String,
}

impl Place {
    /// A run's key goes to its run's hash; any other key is a hash of its own (name '').
    pub fn of(key: &str) -> Place {
        match run_of_key(key) {
            Some(run_part) => {
                let (kind, rest) = key[PREFIX.len()..].split_once(':').unwrap_or((key, ""));
                let after_run = &rest[run_part.len()..];
                Place {
                    hash: hash_of(run_part),
                    name: format!("{kind}{after_run}"),
                }
            }
            None => Place {
                hash: key.to_string(),
                name: String::new(),
            },
        }
    }

    /// The field holding a string key's value.
    pub fn value(&self) -> String {
        format!("={}", self.name)
    }

    /// The field that says `member` is in the set.
    pub fn member(&self, member: &str) -> String {
        format!("{}{member}", self.members())
    }

    /// What every member field of the set starts with.
    pub fn members(&self) -> String {
        format!("+{}:{}", self.name.len(), self.name)
    }

    /// The field counting the set's members.
    pub fn count(&self) -> String {
        format!("#{}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::keys;

    #[test]
    fn every_engine_key_of_a_run_lives_in_its_run_hash() {
        let run = "0b7c6f1e-run";
        for key in [
            keys::outstanding(run),
            keys::fan_in(run, "join"),
            keys::any_join_fired(run, "join"),
            keys::join_fired_by(run, "join", "job-1"),
            keys::job_done(run, "job-1"),
            keys::recorded(run, "job-1"),
            keys::work(run, "job-1"),
            keys::progress(run),
            keys::inputs_rewritten(run, "n"),
            keys::subflow_parent(run),
            keys::batch_progress(run, "b"),
            keys::epoch(run),
            keys::final_claim(run),
        ] {
            assert_eq!(run_of_key(&key), Some(run), "{key}");
            assert_eq!(Place::of(&key).hash, run_hash(run), "{key}");
        }
        assert_eq!(run_of_key("other:key"), None);
        assert_eq!(run_of_key("flowcraft:plain"), None);
        assert_eq!(run_of_key(&run_hash(run)), None);
        let done = Place::of("flowcraft:done:r:j");
        assert_eq!(
            (done.hash.as_str(), done.value()),
            ("flowcraft:run:r", "=done:j".into())
        );
        let loose = Place::of("other:key");
        assert_eq!((loose.hash.as_str(), loose.value()), ("other:key", "=".into()));
    }

    #[test]
    fn a_run_whose_id_extends_another_with_a_colon_has_its_own_hash() {
        let (x, xb) = (
            Place::of(&keys::fan_in("X", "b:join")),
            Place::of(&keys::fan_in("X:b", "join")),
        );
        assert_eq!(x.hash, run_hash("X"));
        assert_eq!(xb.hash, run_hash("X:b"));
        assert_ne!(x.hash, xb.hash);
        assert_eq!(Place::of(&keys::epoch("X:b")).hash, run_hash("X:b"));
    }

    #[test]
    fn set_fields_never_alias_across_sets_or_values() {
        // Set "fanin:a" with member "b:c" and set "fanin:a:b" with member "c".
        let first = Place::of("flowcraft:fanin:r:a").member("b:c");
        let second = Place::of("flowcraft:fanin:r:a:b").member("c");
        assert_ne!(first, second);
        let set = Place::of("flowcraft:outstanding:r");
        assert!(set.member("x").starts_with(&set.members()));
        assert_ne!(set.count(), Place::of("flowcraft:outstanding:r").value());
    }
}
