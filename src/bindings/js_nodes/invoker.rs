//! `JsNodeInvoker`: the engine's `NodeInvoker` for a JS registry. Calls go to
//! `node_runtime.js` in batches; each result comes back on the reply channel.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use super::batched_call::BatchedJsCall;
use super::channel::ReplyChannel;
use super::live_contexts::{LiveContexts, EAGER_CONTEXT_KEYS};
use super::outcome::parse_outcome;
use crate::engine::invoker::{NodeCall, NodeFailure, NodeInvoker, NodeReturn};
use crate::engine::trace::NodeTrace;
use crate::engine::traits::BoxFuture;

/// What `node_runtime.js` `dispatch` reads for one call.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CallMessage<'a> {
    call_id: i64,
    run_id: &'a str,
    blueprint_id: &'a str,
    node_id: &'a str,
    uses: &'a str,
    attempt: u32,
    last_attempt: bool,
    // Left out when there is none: the node sees `ctx.input === undefined`, as in Flowcraft.
    #[serde(skip_serializing_if = "Option::is_none")]
    input: &'a Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prepared: &'a Option<Value>,
    // Left out when empty: fewer objects for the JS thread to parse.
    #[serde(skip_serializing_if = "is_empty_object")]
    params: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a Map<String, Value>>,
    /// The context stays here: the node reads it by key (`LiveContexts`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    context_by_key: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace: Option<&'a NodeTrace>,
}

fn is_empty_object(value: &&Value) -> bool {
    value.as_object().is_some_and(Map::is_empty)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AbortMessage<'a> {
    call_id: i64,
    reason: &'a str,
}

pub struct JsNodeInvoker {
    implementations: BTreeSet<String>,
    calls: BatchedJsCall,
    aborts: Arc<BatchedJsCall>,
    replies: ReplyChannel,
    contexts: LiveContexts,
}

impl JsNodeInvoker {
    pub fn new(
        implementations: BTreeSet<String>,
        calls: BatchedJsCall,
        aborts: BatchedJsCall,
        replies: ReplyChannel,
        contexts: LiveContexts,
    ) -> Self {
        JsNodeInvoker {
            implementations,
            calls,
            aborts: Arc::new(aborts),
            replies,
            contexts,
        }
    }

    /// No more calls reach JS after this.
    pub fn close(&self) {
        self.calls.close();
        self.aborts.close();
    }
}

impl NodeInvoker for JsNodeInvoker {
    fn has(&self, uses: &str) -> bool {
        self.implementations.contains(uses)
    }

    fn invoke(&self, call: NodeCall) -> BoxFuture<'static, Result<NodeReturn, NodeFailure>> {
        let (call_id, reply) = self.replies.open();
        let by_key = call.context.len() > EAGER_CONTEXT_KEYS;
        // Held until this call's future ends: answered, failed or dropped.
        let live = by_key.then(|| self.contexts.hold(call_id, Arc::clone(&call.context)));
        let queued = self.calls.push(&CallMessage {
            call_id,
            run_id: &call.run_id,
            blueprint_id: &call.blueprint_id,
            node_id: &call.node_id,
            uses: &call.uses,
            attempt: call.attempt,
            last_attempt: call.last_attempt,
            input: &call.input,
            prepared: &call.prepared,
            params: &call.params,
            context: (!by_key && !call.context.is_empty()).then_some(&*call.context),
            context_by_key: by_key,
            trace: call.trace.as_ref(),
        });
        let aborts = Arc::clone(&self.aborts);
        let replies = self.replies.clone();
        let signal = call.abort.clone();
        Box::pin(async move {
            let _live = live;
            if let Err(reason) = queued {
                replies.forget(call_id);
                return Err(NodeFailure::new(format!("could not call the JS node: {reason}")));
            }
            // Forward the engine's abort (timeout, shutdown) to the node's AbortSignal.
            let _listener = signal.on_abort(move |reason| {
                let _ = aborts.push(&AbortMessage { call_id, reason });
            });
            match reply.await {
                Ok(json) => parse_outcome(&json),
                Err(_) => Err(NodeFailure::new("the adapter stopped before the node finished")),
            }
        })
    }
}
