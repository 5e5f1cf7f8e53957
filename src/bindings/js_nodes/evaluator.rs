//! `runtimeOptions.evaluator`: a user's `{ evaluate(expression, scope) }` called from the
//! engine for conditions and transforms.

use serde::Deserialize;
use serde_json::{json, Value};

use super::batched_call::BatchedJsCall;
use super::channel::ReplyChannel;
use crate::engine::evaluator::Evaluator;
use crate::engine::traits::BoxFuture;

pub struct JsEvaluator {
    calls: BatchedJsCall,
    replies: ReplyChannel,
}

#[derive(Deserialize)]
struct Evaluated {
    ok: bool,
    #[serde(default)]
    value: Option<Value>,
}

impl JsEvaluator {
    pub fn new(calls: BatchedJsCall, replies: ReplyChannel) -> Self {
        JsEvaluator { calls, replies }
    }

    pub fn close(&self) {
        self.calls.close();
    }
}

impl Evaluator for JsEvaluator {
    fn evaluate<'a>(&'a self, expression: &'a str, scope: &'a Value) -> BoxFuture<'a, Option<Value>> {
        let (call_id, reply) = self.replies.open();
        let queued = self
            .calls
            .push(&json!({ "callId": call_id, "expression": expression, "scope": scope }));
        Box::pin(async move {
            if queued.is_err() {
                self.replies.forget(call_id);
                return None;
            }
            // Flowcraft's evaluators answer `undefined` for anything they cannot evaluate;
            // a throwing evaluator is treated the same way.
            let answer: Evaluated = serde_json::from_str(&reply.await.ok()?).ok()?;
            if answer.ok {
                answer.value
            } else {
                None
            }
        })
    }
}
