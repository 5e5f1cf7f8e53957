//! Flowcraft's `WorkflowBlueprint` JSON, accepted as users write it
//! (unknown fields are kept, never rejected). Blueprints are immutable once
//! registered (T12): per-run effects live in the run's state.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowBlueprint {
    pub id: String,
    pub nodes: Vec<NodeDefinition>,
    #[serde(default)]
    pub edges: Vec<EdgeDefinition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl WorkflowBlueprint {
    /// `metadata.version || null`: empty strings and non-strings count as none.
    pub fn version(&self) -> Option<String> {
        match self.metadata.as_ref()?.get("version")? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    pub fn node(&self, id: &str) -> Option<&NodeDefinition> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

/// `inputs`: a single key/path, or a map of names to keys/paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NodeInputs {
    Key(String),
    Map(Map<String, Value>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeDefinition {
    pub id: String,
    pub uses: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<NodeInputs>,
    /// Raw `config`; checked and parsed into a `NodePolicy` at load time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl NodeDefinition {
    /// `params || {}`.
    pub fn params(&self) -> Value {
        self.params.clone().unwrap_or_else(|| Value::Object(Map::new()))
    }

    pub fn param(&self, name: &str) -> Option<&Value> {
        self.params.as_ref()?.get(name)
    }

    pub fn param_str(&self, name: &str) -> Option<&str> {
        self.param(name)?.as_str()
    }

    pub fn config_value(&self, name: &str) -> Option<&Value> {
        self.config.as_ref()?.get(name)
    }

    /// Explicit `inputs` (an empty string counts as none, as in Flowcraft).
    pub fn explicit_inputs(&self) -> Option<&NodeInputs> {
        match &self.inputs {
            Some(NodeInputs::Key(k)) if k.is_empty() => None,
            other => other.as_ref(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeDefinition {
    pub source: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_flowcraft_json_with_unknown_fields() {
        let bp: WorkflowBlueprint = serde_json::from_value(json!({
            "id": "bp",
            "nodes": [
                {"id": "a", "uses": "emit", "inputs": "x.y", "_sourceLocation": {"line": 1}},
                {"id": "b", "uses": "echo", "inputs": {"p": "a"}, "config": {"maxRetries": 2}}
            ],
            "edges": [{"source": "a", "target": "b", "action": "go"}],
            "metadata": {"version": "1.0.0", "cycleEntryPoints": []},
            "somethingElse": true
        }))
        .unwrap();
        assert_eq!(bp.version().as_deref(), Some("1.0.0"));
        assert_eq!(bp.nodes[0].inputs, Some(NodeInputs::Key("x.y".into())));
        assert!(bp.nodes[0].extra.contains_key("_sourceLocation"));
        assert!(bp.extra.contains_key("somethingElse"));
        assert_eq!(bp.edges[0].action.as_deref(), Some("go"));
    }

    #[test]
    fn empty_version_is_none() {
        let bp: WorkflowBlueprint =
            serde_json::from_value(json!({"id": "bp", "nodes": [], "metadata": {"version": ""}})).unwrap();
        assert_eq!(bp.version(), None);
    }
}
