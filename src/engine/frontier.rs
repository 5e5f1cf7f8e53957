//! A run's frontier read from its context alone: the nodes routing reached (or the
//! start nodes) that have not recorded an output, whose join is satisfied. Routing
//! writes `_inputs.<target>` for each edge it follows, after actions and conditions
//! were applied, and in the same batch as the node's `_outputs.<id>`, so this is the
//! frontier as routing chose it, not every successor of every finished node.
//!
//! The reconciler uses it only when a run's coordination state is gone (Redis lost it,
//! or its keys expired): the recorded outstanding jobs are exact and are preferred.
//! What the context cannot show: a node whose output was `undefined` looks unfinished;
//! batch workers, retries and sleeps in progress are not nodes of the blueprint.

use serde_json::{Map, Value};

use crate::engine::analysis::BlueprintPlan;
use crate::engine::awaiting;
use crate::engine::inputs::{inputs_key, outputs_key};
use crate::engine::policy::JoinStrategy;

/// Node ids that must run for the run to go on, in blueprint order.
pub fn frontier(plan: &BlueprintPlan, context: &Map<String, Value>) -> Vec<String> {
    let finished = |id: &str| context.contains_key(&outputs_key(id));
    let awaiting = awaiting::waiting(context);
    plan.blueprint
        .nodes
        .iter()
        .map(|node| node.id.as_str())
        .filter(|id| !plan.fallback_only.contains(*id) && !awaiting.iter().any(|a| a == id) && !finished(id))
        .filter(|id| {
            if plan.start_nodes.iter().any(|start| start == id) {
                return true;
            }
            if !context.contains_key(&inputs_key(id)) {
                return false;
            }
            let predecessors = plan.predecessors(id);
            predecessors.len() <= 1
                || plan.policy(id).join == JoinStrategy::Any
                || predecessors.iter().all(|p| finished(p))
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::blueprint::WorkflowBlueprint;

    fn plan() -> std::sync::Arc<BlueprintPlan> {
        let blueprint: WorkflowBlueprint = serde_json::from_value(json!({
            "id": "routes",
            "nodes": [
                {"id": "start", "uses": "x"},
                {"id": "left", "uses": "x"}, {"id": "right", "uses": "x"},
                {"id": "join", "uses": "x", "config": {"joinStrategy": "all"}},
                {"id": "yes", "uses": "x"}, {"id": "no", "uses": "x"}
            ],
            "edges": [
                {"source": "start", "target": "left"}, {"source": "start", "target": "right"},
                {"source": "left", "target": "join"}, {"source": "right", "target": "join"},
                {"source": "join", "target": "yes", "action": "approve"},
                {"source": "join", "target": "no", "action": "reject"}
            ]
        }))
        .unwrap();
        BlueprintPlan::new(blueprint)
    }

    fn context(pairs: &[(&str, Value)]) -> Map<String, Value> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn a_run_with_nothing_recorded_starts_over_at_its_start_nodes() {
        assert_eq!(frontier(&plan(), &Map::new()), ["start"]);
    }

    #[test]
    fn an_all_join_waits_for_every_predecessor() {
        let ctx = context(&[
            ("_outputs.start", json!(1)),
            ("_inputs.left", json!(1)),
            ("_inputs.right", json!(1)),
            ("_outputs.left", json!(2)),
            ("_inputs.join", json!(2)),
        ]);
        assert_eq!(frontier(&plan(), &ctx), ["right"]);
    }

    #[test]
    fn only_the_branch_routing_took_is_in_the_frontier() {
        let ctx = context(&[
            ("_outputs.start", json!(1)),
            ("_outputs.left", json!(2)),
            ("_outputs.right", json!(3)),
            ("_outputs.join", json!(4)),
            ("_inputs.join", json!(3)),
            // join's action was `reject`: routing delivered to `no` only.
            ("_inputs.no", json!(4)),
        ]);
        assert_eq!(frontier(&plan(), &ctx), ["no"]);
    }

    #[test]
    fn a_finished_run_has_an_empty_frontier() {
        let ctx = context(&[
            ("_outputs.start", json!(1)),
            ("_outputs.left", json!(2)),
            ("_outputs.right", json!(3)),
            ("_outputs.join", json!(4)),
            ("_inputs.yes", json!(4)),
            ("_outputs.yes", json!(5)),
        ]);
        assert!(frontier(&plan(), &ctx).is_empty());
    }
}
