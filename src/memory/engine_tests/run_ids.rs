//! Run ids are free text: one that extends another with a `:` (`X` and `X:b`) must not
//! share any coordination key with it, whichever run finishes first.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::json;

use super::{diamond_engine, starts};
use crate::engine::lifecycle::origin;
use crate::engine::traits::{Delivery, JobTransport};
use crate::engine::{Engine, RunStatus, StartOptions};
use crate::memory::MemoryBackend;

/// Handles queued jobs that `pick` accepts until none is left; keeps the others.
async fn handle_while(
    engine: &Engine,
    backend: &MemoryBackend,
    kept: &mut VecDeque<Delivery>,
    pick: impl Fn(&Delivery) -> bool,
) {
    loop {
        while let Ok(Ok(batch)) =
            tokio::time::timeout(Duration::from_millis(20), backend.queue.receive(16)).await
        {
            if batch.is_empty() {
                break;
            }
            kept.extend(batch);
        }
        let Some(at) = kept.iter().position(&pick) else {
            return;
        };
        let delivery = kept.remove(at).unwrap();
        origin::handling(delivery.receipt, engine.handle_job(delivery.job))
            .await
            .unwrap();
    }
}

async fn both_orders(first: &str, second: &str) {
    let backend = MemoryBackend::new();
    let engine = diamond_engine(backend.backends());
    for run_id in [first, second] {
        let options = StartOptions {
            run_id: Some(run_id.to_string()),
            ..Default::default()
        };
        engine
            .start_run("diamond", Default::default(), options)
            .await
            .unwrap();
    }
    let mut kept = VecDeque::new();
    // The second run gets as far as one arrival at its join...
    let of_second_before_b = |d: &Delivery| d.job.run_id == second && d.job.node_id != "b";
    handle_while(&engine, &backend, &mut kept, of_second_before_b).await;
    // ...the first runs to its end (and forgets its keys)...
    handle_while(&engine, &backend, &mut kept, |d| d.job.run_id == first).await;
    // ...then the second goes on.
    handle_while(&engine, &backend, &mut kept, |_| true).await;
    for run_id in [first, second] {
        let result = engine
            .wait_for_run(run_id, Some(Duration::from_secs(2)))
            .await
            .unwrap();
        assert_eq!(result.status, RunStatus::Completed, "run {run_id}");
        assert_eq!(starts(&backend, run_id, "j"), 1, "run {run_id} ran its join once");
        assert_eq!(result.context.get("_outputs.b"), Some(&json!(3)), "run {run_id}");
    }
}

#[tokio::test]
async fn runs_x_and_x_colon_b_with_joins_finish_correctly_in_both_orders() {
    both_orders("X", "X:b").await;
    both_orders("X:b", "X").await;
    both_orders("X%3Ab", "X:b").await;
}
