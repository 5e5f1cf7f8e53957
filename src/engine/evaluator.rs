//! Expressions on edges (`condition`, `transform`) and in loop controllers.
//! The default is Flowcraft's `PropertyEvaluator`: a dotted property path
//! over the scope, characters `[A-Za-z0-9_$.]` only; anything else is
//! `undefined` (`None`). Async so a binding can plug in a JS evaluator.

use serde_json::Value;

use crate::engine::traits::BoxFuture;

pub trait Evaluator: Send + Sync {
    /// `None` is JS `undefined`.
    fn evaluate<'a>(&'a self, expression: &'a str, scope: &'a Value) -> BoxFuture<'a, Option<Value>>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct PropertyEvaluator;

impl PropertyEvaluator {
    pub fn evaluate_path(expression: &str, scope: &Value) -> Option<Value> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.';
        if expression.is_empty() || !expression.chars().all(allowed) {
            return None;
        }
        let mut segments = expression.split('.');
        let first = segments.next()?;
        // The first segment must be an own property of the scope.
        let mut current = scope.as_object()?.get(first)?;
        for segment in segments {
            current = match current {
                Value::Object(map) => map.get(segment)?,
                Value::Array(items) => {
                    if segment == "length" {
                        return Some(Value::from(items.len()));
                    }
                    items.get(segment.parse::<usize>().ok()?)?
                }
                Value::String(s) if segment == "length" => {
                    return Some(Value::from(s.encode_utf16().count()))
                }
                _ => return None,
            };
        }
        Some(current.clone())
    }
}

impl Evaluator for PropertyEvaluator {
    fn evaluate<'a>(&'a self, expression: &'a str, scope: &'a Value) -> BoxFuture<'a, Option<Value>> {
        Box::pin(async move { Self::evaluate_path(expression, scope) })
    }
}

/// JavaScript truthiness of an evaluation result.
pub fn is_truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(_)) | Some(Value::Object(_)) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn walks_dotted_paths() {
        let scope = json!({"result": {"output": {"approved": true, "score": 0}}, "settings": null});
        let eval = PropertyEvaluator::evaluate_path;
        assert_eq!(eval("result.output.approved", &scope), Some(json!(true)));
        assert_eq!(eval("result.output.score", &scope), Some(json!(0)));
        assert_eq!(eval("result.output.missing", &scope), None);
        assert_eq!(eval("settings.notify", &scope), None);
        assert_eq!(eval("nothing", &scope), None);
    }

    #[test]
    fn rejects_operators_and_brackets() {
        let scope = json!({"a": 1, "context": {"end": 2}});
        assert_eq!(PropertyEvaluator::evaluate_path("a >= 0", &scope), None);
        assert_eq!(PropertyEvaluator::evaluate_path("context[\"end\"]", &scope), None);
        assert_eq!(PropertyEvaluator::evaluate_path("!a", &scope), None);
    }

    #[test]
    fn truthiness_follows_javascript() {
        for falsy in [json!(null), json!(false), json!(0), json!(""), json!(0.0)] {
            assert!(!is_truthy(Some(&falsy)), "{falsy}");
        }
        for truthy in [json!(true), json!(1), json!("x"), json!([]), json!({})] {
            assert!(is_truthy(Some(&truthy)), "{truthy}");
        }
        assert!(!is_truthy(None));
    }

    #[tokio::test]
    async fn trait_object_evaluates() {
        let evaluator: &dyn Evaluator = &PropertyEvaluator;
        let scope = json!({"input": {"items": [1, 2]}});
        assert_eq!(
            evaluator.evaluate("input.items", &scope).await,
            Some(json!([1, 2]))
        );
    }
}
