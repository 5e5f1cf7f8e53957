//! Graph facts computed once per registered blueprint: start nodes,
//! distinct predecessors, outgoing edges, fallback-only nodes, parsed
//! policies. Never recomputed per job, never mutated.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::engine::blueprint::{EdgeDefinition, NodeDefinition, WorkflowBlueprint};
use crate::engine::builtins;
use crate::engine::cycles;
use crate::engine::policy::{JoinStrategy, NodePolicy};

#[derive(Debug)]
pub struct BlueprintPlan {
    pub blueprint: WorkflowBlueprint,
    pub version: Option<String>,
    policies: HashMap<String, NodePolicy>,
    predecessors: HashMap<String, Vec<String>>,
    outgoing: HashMap<String, Vec<usize>>,
    /// Nodes with no incoming edge, in node order, minus fallback-only nodes (T7); in a
    /// graph with none, FlowRuntime's cycle entries (`cycles::cycle_entries`).
    pub start_nodes: Vec<String>,
    /// Cycle entries that no edge runs again: FlowRuntime runs a node reached twice once,
    /// unless it is a loop controller or in a loop's body.
    pub cut_entries: HashSet<String>,
    /// The first cycle found (loops included): `strict` runs refuse the graph, naming it.
    pub first_cycle: Option<Vec<String>>,
    /// Nodes with no outgoing edge, in node order.
    pub terminal_nodes: Vec<String>,
    /// Nodes referenced as a fallback and reached by no edge: never a job.
    pub fallback_only: HashSet<String>,
    /// Nodes with explicit `inputs` and an incoming edge that has a transform
    /// (the within-run inputs rewrite, T12).
    pub rewritable_inputs: HashSet<String>,
    /// Nodes whose every successor waits for them alone (one static predecessor) or is an
    /// `'all'` join, none a `batch-gather` or taking rewritten inputs: finishing one claims
    /// nothing but its own job and its join arrivals, so its result is claimed with its
    /// done marker in one step (see `lifecycle::handler`, `lifecycle::finish`).
    pub claims_with_marker: HashSet<String>,
}

impl BlueprintPlan {
    /// Builds the plan. Config values that do not parse fall back to the
    /// defaults here; validation reports them before a plan is ever used.
    pub fn new(blueprint: WorkflowBlueprint) -> Arc<Self> {
        let policies: HashMap<String, NodePolicy> = blueprint
            .nodes
            .iter()
            .map(|n| (n.id.clone(), NodePolicy::parse(n).unwrap_or_default()))
            .collect();
        let mut predecessors: HashMap<String, Vec<String>> = HashMap::new();
        let mut outgoing: HashMap<String, Vec<usize>> = HashMap::new();
        let mut targets = HashSet::new();
        let mut sources = HashSet::new();
        let mut rewritable_inputs = HashSet::new();
        for (index, edge) in blueprint.edges.iter().enumerate() {
            let preds = predecessors.entry(edge.target.clone()).or_default();
            if !preds.contains(&edge.source) {
                preds.push(edge.source.clone());
            }
            outgoing.entry(edge.source.clone()).or_default().push(index);
            targets.insert(edge.target.as_str());
            sources.insert(edge.source.as_str());
            if edge.transform.is_some() {
                if let Some(target) = blueprint.node(&edge.target) {
                    if target.explicit_inputs().is_some() {
                        rewritable_inputs.insert(edge.target.clone());
                    }
                }
            }
        }
        let fallback_targets: HashSet<&str> =
            policies.values().filter_map(|p| p.fallback.as_deref()).collect();
        let fallback_only: HashSet<String> = blueprint
            .nodes
            .iter()
            .filter(|n| fallback_targets.contains(n.id.as_str()) && !targets.contains(n.id.as_str()))
            .map(|n| n.id.clone())
            .collect();
        // A fallback-only node never arrives anywhere (its edges are never
        // followed, T7), so it is no join's predecessor.
        for preds in predecessors.values_mut() {
            preds.retain(|p| !fallback_only.contains(p));
        }
        let mut start_nodes: Vec<String> = blueprint
            .nodes
            .iter()
            .filter(|n| !targets.contains(n.id.as_str()) && !fallback_only.contains(&n.id))
            .map(|n| n.id.clone())
            .collect();
        let cycles = cycles::find_cycles(&blueprint);
        let mut cut_entries = HashSet::new();
        if start_nodes.is_empty() && !cycles.is_empty() {
            start_nodes = cycles::cycle_entries(&blueprint, &cycles);
            cut_entries = cycles::cut_entries(&blueprint, &start_nodes);
        }
        let claims_with_marker = blueprint
            .nodes
            .iter()
            .filter(|n| {
                outgoing.get(&n.id).into_iter().flatten().all(|index| {
                    let edge = &blueprint.edges[*index];
                    let alone = predecessors.get(&edge.target).is_none_or(|p| p.len() <= 1);
                    let all_join = policies
                        .get(&edge.target)
                        .is_some_and(|p| p.join != JoinStrategy::Any);
                    let gathers = blueprint
                        .node(&edge.target)
                        .is_some_and(|t| t.uses == builtins::BATCH_GATHER);
                    let rewrites = edge.transform.is_some() && rewritable_inputs.contains(&edge.target);
                    (alone || all_join) && !gathers && !rewrites
                })
            })
            .map(|n| n.id.clone())
            .collect();
        let terminal_nodes = blueprint
            .nodes
            .iter()
            .filter(|n| !sources.contains(n.id.as_str()))
            .map(|n| n.id.clone())
            .collect();
        Arc::new(Self {
            version: blueprint.version(),
            blueprint,
            policies,
            predecessors,
            outgoing,
            start_nodes,
            cut_entries,
            first_cycle: cycles.into_iter().next(),
            terminal_nodes,
            fallback_only,
            rewritable_inputs,
            claims_with_marker,
        })
    }

    pub fn id(&self) -> &str {
        &self.blueprint.id
    }

    pub fn node(&self, id: &str) -> Option<&NodeDefinition> {
        self.blueprint.node(id)
    }

    pub fn policy(&self, id: &str) -> NodePolicy {
        self.policies.get(id).cloned().unwrap_or_default()
    }

    /// Distinct source nodes of the edges into `id`, in edge order.
    pub fn predecessors(&self, id: &str) -> &[String] {
        self.predecessors.get(id).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The edges leaving `id`, in edge order.
    pub fn outgoing_edges(&self, id: &str) -> impl Iterator<Item = &EdgeDefinition> {
        self.outgoing
            .get(id)
            .into_iter()
            .flatten()
            .map(|i| &self.blueprint.edges[*i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(value: serde_json::Value) -> Arc<BlueprintPlan> {
        BlueprintPlan::new(serde_json::from_value(value).unwrap())
    }

    #[test]
    fn start_nodes_exclude_fallback_only_nodes() {
        let p = plan(json!({
            "id": "bp",
            "nodes": [
                {"id": "primary", "uses": "x", "config": {"fallback": "secondary"}},
                {"id": "secondary", "uses": "y"},
                {"id": "process", "uses": "z"}
            ],
            "edges": [
                {"source": "primary", "target": "process"},
                {"source": "secondary", "target": "process"}
            ]
        }));
        assert_eq!(p.start_nodes, vec!["primary"]);
        assert!(p.fallback_only.contains("secondary"));
        assert_eq!(p.predecessors("process"), ["primary"]);
        assert_eq!(p.terminal_nodes, vec!["process"]);
    }

    #[test]
    fn predecessors_are_distinct_and_a_startless_cycle_starts_at_its_entry() {
        let p = plan(json!({
            "id": "bp",
            "nodes": [{"id": "a", "uses": "x"}, {"id": "b", "uses": "x"}],
            "edges": [
                {"source": "a", "target": "b"},
                {"source": "a", "target": "b", "action": "again"},
                {"source": "b", "target": "a"}
            ]
        }));
        assert_eq!(p.predecessors("b"), ["a"]);
        assert_eq!(p.start_nodes, ["a"]);
        assert!(p.cut_entries.contains("a") && p.first_cycle.is_some());
        assert_eq!(p.outgoing_edges("a").count(), 2);
    }

    #[test]
    fn transform_into_explicit_inputs_is_rewritable() {
        let p = plan(json!({
            "id": "bp",
            "nodes": [{"id": "a", "uses": "x"}, {"id": "b", "uses": "x", "inputs": "a"}],
            "edges": [{"source": "a", "target": "b", "transform": "input.items"}]
        }));
        assert!(p.rewritable_inputs.contains("b"));
    }

    #[test]
    fn nodes_feeding_lone_successors_or_all_joins_claim_with_their_marker() {
        let p = plan(json!({
            "id": "bp",
            "nodes": [
                {"id": "start", "uses": "x"}, {"id": "left", "uses": "x"}, {"id": "right", "uses": "x"},
                {"id": "join", "uses": "x"}, {"id": "shaped", "uses": "x", "inputs": "join"},
                {"id": "a", "uses": "x"}, {"id": "b", "uses": "x"},
                {"id": "first", "uses": "x", "config": {"joinStrategy": "any"}}
            ],
            "edges": [
                {"source": "start", "target": "left"},
                {"source": "start", "target": "right"},
                {"source": "left", "target": "join"},
                {"source": "right", "target": "join"},
                {"source": "join", "target": "shaped", "transform": "input.items"},
                {"source": "shaped", "target": "a"},
                {"source": "shaped", "target": "b"},
                {"source": "a", "target": "first"},
                {"source": "b", "target": "first"}
            ]
        }));
        let mut claiming: Vec<&str> = p.claims_with_marker.iter().map(String::as_str).collect();
        claiming.sort();
        assert_eq!(
            claiming,
            ["first", "left", "right", "shaped", "start"],
            "an 'any' join's predecessors and rewritten inputs need coordination"
        );
    }
}
