//! Load-time validation: every problem of every blueprint at once, each
//! naming its blueprint, node or edge.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::engine::blueprint::WorkflowBlueprint;
use crate::engine::builtins;
use crate::engine::policy::NodePolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The blueprint set is rejected.
    Error,
    /// Reported, but the blueprint loads. A `uses` with no implementation is
    /// a warning: the run fails when it reaches that node (T9), as Flowcraft.
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationIssue {
    pub severity: Severity,
    pub blueprint_id: String,
    pub node_id: Option<String>,
    /// Index into `edges`.
    pub edge_index: Option<usize>,
    pub message: String,
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blueprint '{}'", self.blueprint_id)?;
        if let Some(node) = &self.node_id {
            write!(f, ", node '{node}'")?;
        }
        if let Some(edge) = self.edge_index {
            write!(f, ", edge #{edge}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Checks all blueprints together (subflows refer to each other).
/// `has_implementation` answers whether the user registry has a `uses` key.
pub fn validate_blueprints(
    blueprints: &[WorkflowBlueprint],
    has_implementation: &dyn Fn(&str) -> bool,
) -> Vec<ValidationIssue> {
    let mut issues = Vec::new();
    let mut seen_blueprints = HashSet::new();
    let known_blueprints: HashSet<&str> = blueprints.iter().map(|b| b.id.as_str()).collect();
    for bp in blueprints {
        let mut issue = |severity, node: Option<&str>, edge: Option<usize>, message: String| {
            issues.push(ValidationIssue {
                severity,
                blueprint_id: bp.id.clone(),
                node_id: node.map(str::to_string),
                edge_index: edge,
                message,
            })
        };
        if bp.id.is_empty() {
            issue(Severity::Error, None, None, "blueprint id is empty".into());
        }
        if !seen_blueprints.insert(bp.id.as_str()) {
            issue(Severity::Error, None, None, "duplicate blueprint id".into());
        }
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for node in &bp.nodes {
            *counts.entry(node.id.as_str()).or_default() += 1;
        }
        let mut reported = HashSet::new();
        for node in &bp.nodes {
            if counts[node.id.as_str()] > 1 && reported.insert(node.id.as_str()) {
                issue(Severity::Error, Some(&node.id), None, "duplicate node id".into());
            }
        }
        for (index, edge) in bp.edges.iter().enumerate() {
            for (end, id) in [("source", &edge.source), ("target", &edge.target)] {
                if !counts.contains_key(id.as_str()) {
                    issue(
                        Severity::Error,
                        None,
                        Some(index),
                        format!("edge {end} '{id}' is not a node of the blueprint"),
                    );
                }
            }
        }
        for node in &bp.nodes {
            let id = Some(node.id.as_str());
            let user = has_implementation(&node.uses);
            if !user && !builtins::is_builtin(&node.uses) {
                issue(
                    Severity::Warning,
                    id,
                    None,
                    format!("Implementation for '{}' not found.", node.uses),
                );
            }
            match NodePolicy::parse(node) {
                Ok(policy) => {
                    if let Some(fallback) = &policy.fallback {
                        if !counts.contains_key(fallback.as_str()) {
                            issue(
                                Severity::Error,
                                id,
                                None,
                                format!("fallback '{fallback}' is not a node of the blueprint"),
                            );
                        }
                    }
                }
                Err(problems) => {
                    for p in problems {
                        issue(
                            Severity::Error,
                            id,
                            None,
                            format!("config.{}: {}", p.field, p.message),
                        );
                    }
                }
            }
            if user {
                continue;
            }
            match node.uses.as_str() {
                builtins::SUBFLOW => match node.param_str("blueprintId") {
                    None => issue(
                        Severity::Error,
                        id,
                        None,
                        "subflow needs params.blueprintId".into(),
                    ),
                    Some(child) if !known_blueprints.contains(child) => issue(
                        Severity::Error,
                        id,
                        None,
                        format!("subflow blueprint '{child}' is not registered"),
                    ),
                    Some(_) => {}
                },
                builtins::BATCH_SCATTER => {
                    match node.param_str("workerUsesKey") {
                        None => issue(
                            Severity::Error,
                            id,
                            None,
                            "batch-scatter needs params.workerUsesKey".into(),
                        ),
                        Some(worker) if !has_implementation(worker) => issue(
                            Severity::Warning,
                            id,
                            None,
                            format!("Implementation for '{worker}' not found."),
                        ),
                        Some(_) => {}
                    }
                    match node.param_str("gatherNodeId") {
                        None => issue(
                            Severity::Error,
                            id,
                            None,
                            "batch-scatter needs params.gatherNodeId".into(),
                        ),
                        Some(g) if !counts.contains_key(g) => issue(
                            Severity::Error,
                            id,
                            None,
                            format!("gatherNodeId '{g}' is not a node of the blueprint"),
                        ),
                        Some(_) => {}
                    }
                }
                _ => {}
            }
        }
    }
    issues
}

pub fn has_errors(issues: &[ValidationIssue]) -> bool {
    issues.iter().any(|i| i.severity == Severity::Error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_every_problem_at_once() {
        let bp: WorkflowBlueprint = serde_json::from_value(json!({
            "id": "bad",
            "nodes": [
                {"id": "a", "uses": "emit", "config": {"maxRetries": -1, "fallback": "ghost"}},
                {"id": "a", "uses": "emit"},
                {"id": "b", "uses": "nope", "config": {"joinStrategy": "most", "timeout": "soon"}},
                {"id": "s", "uses": "subflow", "params": {"blueprintId": "missing"}}
            ],
            "edges": [{"source": "a", "target": "zzz"}]
        }))
        .unwrap();
        let issues = validate_blueprints(&[bp], &|uses| uses == "emit");
        let text: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
        let all = text.join("\n");
        assert!(all.contains("node 'a': duplicate node id"), "{all}");
        assert!(all.contains("edge #0: edge target 'zzz'"), "{all}");
        assert!(
            all.contains("node 'b': Implementation for 'nope' not found."),
            "{all}"
        );
        assert!(all.contains("config.joinStrategy"), "{all}");
        assert!(all.contains("config.timeout"), "{all}");
        assert!(all.contains("config.maxRetries"), "{all}");
        assert!(all.contains("subflow blueprint 'missing'"), "{all}");
        assert!(has_errors(&issues));
        let warnings = issues.iter().filter(|i| i.severity == Severity::Warning).count();
        assert_eq!(warnings, 1);
    }

    #[test]
    fn fallback_to_unknown_node_is_an_error() {
        let bp: WorkflowBlueprint = serde_json::from_value(json!({
            "id": "fb", "nodes": [{"id": "a", "uses": "emit", "config": {"fallback": "ghost"}}]
        }))
        .unwrap();
        let issues = validate_blueprints(&[bp], &|_| true);
        assert_eq!(issues.len(), 1);
        assert!(issues[0].message.contains("fallback 'ghost'"));
    }
}
