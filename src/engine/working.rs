//! A job's view of its run's context while it routes: the context it began with plus
//! the writes it makes, without copying the context (a copy per hop was a tenth of a
//! worker's CPU). The whole context is built only for an evaluator's scope.

use serde_json::{Map, Value};

use crate::engine::traits::ContextOp;

pub struct WorkingContext<'a> {
    base: &'a Map<String, Value>,
    /// In the order made; a later write to a key hides an earlier one.
    writes: Vec<ContextOp>,
}

impl<'a> WorkingContext<'a> {
    pub fn new(base: &'a Map<String, Value>) -> Self {
        WorkingContext {
            base,
            writes: Vec::new(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        match self.writes.iter().rev().find(|op| op.key() == key) {
            Some(ContextOp::Set { value, .. }) => Some(value),
            Some(ContextOp::Delete { .. }) => None,
            None => self.base.get(key),
        }
    }

    pub fn apply(&mut self, op: ContextOp) {
        self.writes.push(op);
    }

    /// The writes made, in order: what goes to the context store.
    pub fn into_writes(self) -> Vec<ContextOp> {
        self.writes
    }

    /// The whole context as it stands: the base with every write applied in order.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut map = self.base.clone();
        for op in &self.writes {
            op.apply_to(&mut map);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_hide_the_base_in_order_and_the_whole_map_matches_applying_them() {
        let base = json!({"a": 1, "b": 2}).as_object().cloned().unwrap();
        let mut working = WorkingContext::new(&base);
        working.apply(ContextOp::set("a", json!(10)));
        working.apply(ContextOp::delete("b"));
        working.apply(ContextOp::set("c", json!(3)));
        working.apply(ContextOp::set("c", json!(4)));
        assert_eq!(working.get("a"), Some(&json!(10)));
        assert_eq!(working.get("b"), None);
        assert_eq!(working.get("c"), Some(&json!(4)));
        assert_eq!(working.get("zz"), None);
        let mut expected = base.clone();
        for op in [
            ContextOp::set("a", json!(10)),
            ContextOp::delete("b"),
            ContextOp::set("c", json!(3)),
            ContextOp::set("c", json!(4)),
        ] {
            op.apply_to(&mut expected);
        }
        assert_eq!(working.to_map(), expected);
        assert_eq!(
            working.into_writes().len(),
            4,
            "every write is kept for the store"
        );
        assert_eq!(base["b"], json!(2), "the base is never changed");
    }
}
