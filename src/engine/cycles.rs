//! Cycles, as FlowRuntime finds them: where a graph with no start node begins, which
//! nodes a loop runs again, and whether a blueprint is a DAG (`strict` runs).
//!
//! FlowRuntime's traverser starts a start-less cyclic graph at one node per cycle its
//! depth-first search reports: the first member listed in `metadata.cycleEntryPoints`,
//! or else the node the cycle's back edge points to. It then runs an `'all'` node at
//! most once, unless a `loop-controller` firing reset it; so an edge that leads back
//! into an entry never runs it again (see `BlueprintPlan::cut_entries`).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::engine::blueprint::WorkflowBlueprint;
use crate::engine::builtins;

/// Every cycle the search meets, each as the path from the back edge's target to its
/// source, then the target again; nodes in blueprint order, edges in edge order.
pub fn find_cycles(blueprint: &WorkflowBlueprint) -> Vec<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Visit {
        New,
        OnPath,
        Done,
    }
    let mut next: HashMap<&str, Vec<&str>> = blueprint
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), Vec::new()))
        .collect();
    for edge in &blueprint.edges {
        if let Some(targets) = next.get_mut(edge.source.as_str()) {
            targets.push(edge.target.as_str());
        }
    }
    let mut visit: HashMap<&str, Visit> = next.keys().map(|id| (*id, Visit::New)).collect();
    let mut cycles = Vec::new();
    for root in blueprint.nodes.iter().map(|n| n.id.as_str()) {
        if visit[root] != Visit::New {
            continue;
        }
        let mut stack: Vec<(&str, Vec<&str>)> = vec![(root, Vec::new())];
        while let Some((node, path)) = stack.last_mut() {
            let node = *node;
            if visit[node] == Visit::New {
                visit.insert(node, Visit::OnPath);
                path.push(node);
            }
            let mut deeper = None;
            for &neighbour in &next[node] {
                match visit.get(neighbour).copied() {
                    Some(Visit::OnPath) => {
                        let from = path.iter().position(|id| *id == neighbour).unwrap_or(0);
                        let mut cycle: Vec<String> = path[from..].iter().map(|id| id.to_string()).collect();
                        cycle.push(neighbour.to_string());
                        cycles.push(cycle);
                    }
                    Some(Visit::New) => {
                        deeper = Some((neighbour, path.clone()));
                        break;
                    }
                    _ => {}
                }
            }
            match deeper {
                Some(child) => stack.push(child),
                None => {
                    visit.insert(node, Visit::Done);
                    stack.pop();
                }
            }
        }
    }
    cycles
}

/// Where a graph with no start node begins: per cycle, its first member named in
/// `metadata.cycleEntryPoints`, else its first node; each once, in the order found.
pub fn cycle_entries(blueprint: &WorkflowBlueprint, cycles: &[Vec<String>]) -> Vec<String> {
    let named: HashSet<&str> = blueprint
        .metadata
        .as_ref()
        .and_then(|m| m.get("cycleEntryPoints"))
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut entries: Vec<String> = Vec::new();
    for cycle in cycles.iter().filter(|c| !c.is_empty()) {
        let entry = cycle
            .iter()
            .find(|id| named.contains(id.as_str()))
            .unwrap_or(&cycle[0]);
        if !entries.contains(entry) {
            entries.push(entry.clone());
        }
    }
    entries
}

/// The entries no edge runs again: FlowRuntime runs a node reached twice once, unless it
/// is a loop controller or in a loop's body.
pub fn cut_entries(blueprint: &WorkflowBlueprint, entries: &[String]) -> HashSet<String> {
    let loop_bodies = loop_bodies(blueprint);
    entries
        .iter()
        .filter(|id| {
            let controller = blueprint
                .node(id)
                .is_some_and(|n| n.uses == builtins::LOOP_CONTROLLER);
            !controller && !loop_bodies.contains(*id)
        })
        .cloned()
        .collect()
}

/// The nodes a `loop-controller` runs again on `continue`: its (first) continue edge's
/// target and everything after it, up to (not through) a loop controller.
fn loop_bodies(blueprint: &WorkflowBlueprint) -> HashSet<String> {
    let is_controller = |id: &str| {
        blueprint
            .node(id)
            .is_none_or(|n| n.uses == builtins::LOOP_CONTROLLER)
    };
    let mut bodies: HashSet<String> = HashSet::new();
    for controller in blueprint
        .nodes
        .iter()
        .filter(|n| n.uses == builtins::LOOP_CONTROLLER)
    {
        let Some(first) = blueprint
            .edges
            .iter()
            .find(|e| e.source == controller.id && e.action.as_deref() == Some("continue"))
        else {
            continue;
        };
        let mut body: HashSet<&str> = HashSet::from([first.target.as_str()]);
        let mut pending = vec![first.target.as_str()];
        while let Some(id) = pending.pop() {
            for edge in blueprint.edges.iter().filter(|e| e.source == id) {
                let next = edge.target.as_str();
                if !is_controller(next) && body.insert(next) {
                    pending.push(next);
                }
            }
        }
        bodies.extend(body.into_iter().map(str::to_string));
    }
    bodies
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn blueprint(value: serde_json::Value) -> WorkflowBlueprint {
        serde_json::from_value(value).unwrap()
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_two_node_cycle_is_entered_where_the_search_began() {
        let bp = blueprint(json!({
            "id": "bp",
            "nodes": [{"id": "a", "uses": "x"}, {"id": "b", "uses": "x"}],
            "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "a"}]
        }));
        let cycles = find_cycles(&bp);
        assert_eq!(cycles, vec![ids(&["a", "b", "a"])]);
        assert_eq!(cycle_entries(&bp, &cycles), ids(&["a"]));
    }

    #[test]
    fn a_named_entry_point_wins_and_each_entry_counts_once() {
        let bp = blueprint(json!({
            "id": "bp",
            "metadata": {"cycleEntryPoints": ["c"]},
            "nodes": [{"id": "a", "uses": "x"}, {"id": "b", "uses": "x"}, {"id": "c", "uses": "x"}],
            "edges": [
                {"source": "a", "target": "b"}, {"source": "b", "target": "c"},
                {"source": "c", "target": "a"}, {"source": "c", "target": "b"}
            ]
        }));
        let cycles = find_cycles(&bp);
        assert_eq!(cycles, vec![ids(&["a", "b", "c", "a"]), ids(&["b", "c", "b"])]);
        assert_eq!(cycle_entries(&bp, &cycles), ids(&["c"]));
    }

    #[test]
    fn without_named_entries_every_back_edge_target_starts() {
        let bp = blueprint(json!({
            "id": "bp",
            "nodes": [{"id": "a", "uses": "x"}, {"id": "b", "uses": "x"}, {"id": "c", "uses": "x"}],
            "edges": [
                {"source": "a", "target": "b"}, {"source": "b", "target": "c"},
                {"source": "c", "target": "b"}, {"source": "c", "target": "a"}
            ]
        }));
        let cycles = find_cycles(&bp);
        assert_eq!(cycle_entries(&bp, &cycles), ids(&["b", "a"]));
    }

    #[test]
    fn a_dag_has_no_cycles() {
        let bp = blueprint(json!({
            "id": "bp",
            "nodes": [{"id": "a", "uses": "x"}, {"id": "b", "uses": "x"}, {"id": "c", "uses": "x"}],
            "edges": [{"source": "a", "target": "b"}, {"source": "a", "target": "c"}, {"source": "b", "target": "c"}]
        }));
        assert!(find_cycles(&bp).is_empty());
    }

    #[test]
    fn a_loop_body_runs_from_the_continue_target_up_to_the_controller() {
        let bp = blueprint(json!({
            "id": "bp",
            "nodes": [
                {"id": "init", "uses": "x"}, {"id": "step", "uses": "x"}, {"id": "check", "uses": "x"},
                {"id": "loop", "uses": "loop-controller", "config": {"joinStrategy": "any"}},
                {"id": "after", "uses": "x"}
            ],
            "edges": [
                {"source": "init", "target": "step"}, {"source": "step", "target": "check"},
                {"source": "check", "target": "loop"},
                {"source": "loop", "target": "step", "action": "continue"},
                {"source": "loop", "target": "after", "action": "break"}
            ]
        }));
        let body = loop_bodies(&bp);
        let mut sorted: Vec<&str> = body.iter().map(String::as_str).collect();
        sorted.sort();
        assert_eq!(sorted, ["check", "step"]);
    }
}
