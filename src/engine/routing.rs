//! Which edges a finished node follows (Flowcraft §4.1, plus T5's resume
//! rule), and what each followed edge delivers into `_inputs.<target>`
//! (§4.3).

use serde_json::{json, Map, Value};

use crate::engine::analysis::BlueprintPlan;
use crate::engine::blueprint::{EdgeDefinition, NodeInputs};
use crate::engine::builtins;
use crate::engine::evaluator::{is_truthy, Evaluator};
use crate::engine::inputs::{inputs_key, outputs_key};
use crate::engine::traits::ContextOp;
use crate::engine::working::WorkingContext;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMode {
    /// Action edges matching the node's action; the action-less edges only
    /// when no action edge matched.
    Normal,
    /// After `resumeWithAction` (T5): the edges of the resume action plus
    /// every action-less edge.
    Resume,
}

/// What a node produced, as routing sees it.
#[derive(Debug, Clone, Copy)]
pub struct RouteResult<'a> {
    pub output: Option<&'a Value>,
    pub action: Option<&'a str>,
}

/// One followed edge.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeDelivery {
    pub target: String,
    /// The value written to `_inputs.<target>` (`None`: JS undefined).
    pub input: Option<Value>,
    /// The edge has a transform and the target explicit `inputs`: the target
    /// reads `_inputs.<target>` from now on in this run (T12).
    pub rewrites_inputs: bool,
}

fn result_json(result: RouteResult<'_>) -> Value {
    let mut map = Map::new();
    if let Some(output) = result.output {
        map.insert("output".into(), output.clone());
    }
    if let Some(action) = result.action {
        map.insert("action".into(), json!(action));
    }
    Value::Object(map)
}

/// Candidate edges without duplicates (key source-target-action-condition;
/// a later duplicate replaces the earlier one in its position).
fn candidate_edges<'p>(plan: &'p BlueprintPlan, node_id: &str) -> Vec<&'p EdgeDefinition> {
    let mut edges: Vec<&EdgeDefinition> = Vec::new();
    for edge in plan.outgoing_edges(node_id) {
        let same = |e: &&EdgeDefinition| {
            e.target == edge.target && e.action == edge.action && e.condition == edge.condition
        };
        match edges.iter().position(same) {
            Some(i) => edges[i] = edge,
            None => edges.push(edge),
        }
    }
    edges.retain(|e| plan.node(&e.target).is_some());
    edges
}

/// The edges routing follows, and every condition it evaluated on the way (an edge
/// and whether its condition held), for `edge:evaluate` / `node:skipped`.
#[derive(Debug, Default)]
pub struct Selection<'p> {
    pub edges: Vec<&'p EdgeDefinition>,
    pub evaluated: Vec<(&'p EdgeDefinition, bool)>,
}

impl<'p> Selection<'p> {
    async fn holds(&mut self, edge: &'p EdgeDefinition, scope: &Value, evaluator: &dyn Evaluator) -> bool {
        let Some(condition) = &edge.condition else {
            return true;
        };
        let held = is_truthy(evaluator.evaluate(condition, scope).await.as_ref());
        self.evaluated.push((edge, held));
        held
    }
}

/// Selects the edges to follow.
pub async fn select_edges<'p>(
    plan: &'p BlueprintPlan,
    node_id: &str,
    result: RouteResult<'_>,
    context: &WorkingContext<'_>,
    evaluator: &dyn Evaluator,
    mode: RouteMode,
) -> Selection<'p> {
    let candidates = candidate_edges(plan, node_id);
    let mut selection = Selection::default();
    if candidates.is_empty() {
        return selection;
    }
    // The scope copies the whole context: build it only when a condition needs it.
    let scope = if candidates.iter().any(|e| e.condition.is_some()) {
        let mut scope = context.to_map();
        scope.insert("result".into(), result_json(result));
        Value::Object(scope)
    } else {
        Value::Null
    };
    let uses = plan.node(node_id).map(|n| n.uses.as_str());
    if mode == RouteMode::Normal && uses == Some(builtins::LOOP_CONTROLLER) {
        for edge in candidates.iter().filter(|e| e.condition.is_some()) {
            if selection.holds(edge, &scope, evaluator).await {
                selection.edges.push(*edge);
            }
        }
        if !selection.edges.is_empty() {
            return selection;
        }
    }
    let action = result.action.filter(|a| !a.is_empty());
    for edge in &candidates {
        let wanted = match (mode, action, edge.action.as_deref()) {
            (_, Some(a), Some(edge_action)) => a == edge_action,
            (RouteMode::Resume, _, None) => true,
            _ => false,
        };
        if wanted && selection.holds(edge, &scope, evaluator).await {
            selection.edges.push(*edge);
        }
    }
    if selection.edges.is_empty() && mode == RouteMode::Normal {
        for edge in candidates.iter().filter(|e| e.action.is_none()) {
            if selection.holds(edge, &scope, evaluator).await {
                selection.edges.push(*edge);
            }
        }
    }
    selection
}

/// Computes what `edge` delivers and records it in `working` (so a later
/// transform sees earlier deliveries, as Flowcraft's sequential writes).
pub async fn deliver(
    plan: &BlueprintPlan,
    edge: &EdgeDefinition,
    output: Option<&Value>,
    working: &mut WorkingContext<'_>,
    evaluator: &dyn Evaluator,
) -> EdgeDelivery {
    let target = plan.node(&edge.target);
    let mut source_output = output.cloned();
    let mut rewrites_inputs = false;
    if let Some(transform) = &edge.transform {
        // A transform applies to the node a string `inputs` names, not to
        // the edge's source (§4.3 step 2).
        if let Some(NodeInputs::Key(inputs)) = target.and_then(|t| t.explicit_inputs()) {
            let key = if inputs.starts_with('_') {
                inputs.clone()
            } else {
                outputs_key(inputs)
            };
            if inputs != &edge.source {
                if let Some(value) = working.get(&key) {
                    source_output = Some(value.clone());
                }
            }
        }
        let mut scope = Map::new();
        if let Some(input) = source_output {
            scope.insert("input".into(), input);
        }
        scope.insert("context".into(), Value::Object(working.to_map()));
        source_output = evaluator.evaluate(transform, &Value::Object(scope)).await;
        rewrites_inputs = target.is_some_and(|t| t.explicit_inputs().is_some());
    }
    working.apply(ContextOp::set_or_delete(
        inputs_key(&edge.target),
        source_output.clone(),
    ));
    EdgeDelivery {
        target: edge.target.clone(),
        input: source_output,
        rewrites_inputs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::evaluator::PropertyEvaluator;
    use std::sync::Arc;

    fn plan(edges: Value, nodes: Value) -> Arc<BlueprintPlan> {
        BlueprintPlan::new(
            serde_json::from_value(json!({"id": "bp", "nodes": nodes, "edges": edges})).unwrap(),
        )
    }

    fn nodes(ids: &[&str]) -> Value {
        Value::Array(ids.iter().map(|id| json!({"id": id, "uses": "x"})).collect())
    }

    async fn targets(p: &BlueprintPlan, output: Value, action: Option<&str>, mode: RouteMode) -> Vec<String> {
        let ctx = json!({"flag": true}).as_object().unwrap().clone();
        let result = RouteResult {
            output: Some(&output),
            action,
        };
        select_edges(
            p,
            "a",
            result,
            &WorkingContext::new(&ctx),
            &PropertyEvaluator,
            mode,
        )
        .await
        .edges
        .into_iter()
        .map(|e| e.target.clone())
        .collect()
    }

    #[tokio::test]
    async fn action_edges_win_over_default_edges() {
        let p = plan(
            json!([
                {"source": "a", "target": "hi", "action": "high"},
                {"source": "a", "target": "lo", "action": "low"},
                {"source": "a", "target": "all"}
            ]),
            nodes(&["a", "hi", "lo", "all"]),
        );
        assert_eq!(
            targets(&p, json!(1), Some("high"), RouteMode::Normal).await,
            ["hi"]
        );
        assert_eq!(
            targets(&p, json!(1), Some("other"), RouteMode::Normal).await,
            ["all"]
        );
        assert_eq!(targets(&p, json!(1), None, RouteMode::Normal).await, ["all"]);
        assert_eq!(
            targets(&p, json!(1), Some("low"), RouteMode::Resume).await,
            ["lo", "all"]
        );
    }

    #[tokio::test]
    async fn conditions_see_context_and_result() {
        let p = plan(
            json!([
                {"source": "a", "target": "b", "condition": "result.output.ok"},
                {"source": "a", "target": "c", "condition": "flag"},
                {"source": "a", "target": "d", "condition": "result.output.ok == true"}
            ]),
            nodes(&["a", "b", "c", "d"]),
        );
        assert_eq!(
            targets(&p, json!({"ok": false}), None, RouteMode::Normal).await,
            ["c"]
        );
        assert_eq!(
            targets(&p, json!({"ok": 1}), None, RouteMode::Normal).await,
            ["b", "c"]
        );
    }

    #[tokio::test]
    async fn transform_uses_the_node_named_by_string_inputs() {
        let p = plan(
            json!([{"source": "prep", "target": "total", "transform": "input.items"}]),
            json!([
                {"id": "load", "uses": "x"},
                {"id": "prep", "uses": "x"},
                {"id": "total", "uses": "x", "inputs": "load"}
            ]),
        );
        let base = json!({"_outputs.load": {"items": [1, 2, 3]}})
            .as_object()
            .unwrap()
            .clone();
        let mut working = WorkingContext::new(&base);
        let edge = &p.blueprint.edges[0];
        let d = deliver(
            &p,
            edge,
            Some(&json!({"items": [10]})),
            &mut working,
            &PropertyEvaluator,
        )
        .await;
        assert_eq!(d.input, Some(json!([1, 2, 3])));
        assert!(d.rewrites_inputs);
        assert_eq!(working.get("_inputs.total"), Some(&json!([1, 2, 3])));
    }
}
