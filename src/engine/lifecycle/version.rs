//! T8: a run seeded with a `blueprintVersion` other than the worker's
//! blueprint version fails before any node runs. Missing and `null` are
//! equal.

use serde_json::{Map, Value};

use crate::engine::analysis::BlueprintPlan;
use crate::engine::lifecycle::start::BLUEPRINT_VERSION;

fn seeded_version(context: &Map<String, Value>) -> Option<String> {
    match context.get(BLUEPRINT_VERSION)? {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn show(version: &Option<String>) -> String {
    version
        .as_ref()
        .map_or_else(|| "null".to_string(), |v| format!("'{v}'"))
}

/// The failure reason when the versions differ.
pub fn version_mismatch(plan: &BlueprintPlan, context: &Map<String, Value>) -> Option<String> {
    let seeded = seeded_version(context);
    (seeded != plan.version).then(|| {
        format!(
            "Blueprint version mismatch for '{}': the run was started with version {}, the worker has version {}",
            plan.id(),
            show(&seeded),
            show(&plan.version)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(meta: Value) -> std::sync::Arc<BlueprintPlan> {
        BlueprintPlan::new(
            serde_json::from_value(json!({"id": "bp", "nodes": [], "metadata": meta})).unwrap(),
        )
    }

    #[test]
    fn missing_and_null_are_equal() {
        let unversioned = plan(json!({}));
        assert_eq!(version_mismatch(&unversioned, &Map::new()), None);
        let ctx = json!({"blueprintVersion": null}).as_object().unwrap().clone();
        assert_eq!(version_mismatch(&unversioned, &ctx), None);
    }

    #[test]
    fn differing_versions_mismatch() {
        let v2 = plan(json!({"version": "2.0.0"}));
        let ctx = json!({"blueprintVersion": "1.0.0"}).as_object().unwrap().clone();
        let reason = version_mismatch(&v2, &ctx).unwrap();
        assert!(reason.contains("version mismatch"));
        assert!(reason.contains("'1.0.0'") && reason.contains("'2.0.0'"));
        let same = json!({"blueprintVersion": "2.0.0"}).as_object().unwrap().clone();
        assert_eq!(version_mismatch(&v2, &same), None);
    }
}
