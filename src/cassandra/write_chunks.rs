//! Splitting one context write into requests Cassandra accepts. A write that fits one
//! request is one single-partition batch: all or nothing. A larger one (a batch scatter of
//! many items, an output copied to many successors) goes in several, in order, with the
//! keys that record progress (`_outputs.*`, `_inputs.*`) in the last: a write cut short
//! leaves no node looking finished, and the redelivered job writes it all again.

use crate::engine::inputs::records_progress;
use crate::engine::ContextOp;

/// Bytes of keys and values in one request. By default Cassandra refuses a mutation over
/// half its 32 MiB commit log segment and a request frame over 16 MiB; this stays below
/// both with room for the frame's own bytes.
pub const MAX_REQUEST_BYTES: usize = 15 * 1024 * 1024;

/// Statements in one batch: the protocol counts them in 16 bits, and a smaller batch keeps
/// one request from holding a coordinator long.
pub const MAX_BATCH_STATEMENTS: usize = 4096;

/// A cell too large for any request: its index in the write and its bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Oversized {
    pub index: usize,
    pub bytes: usize,
}

/// The requests of a write, as indices into `ops` (`texts[i]` is op i's JSON, `None` for a
/// delete), in the order they are sent.
pub fn plan(ops: &[ContextOp], texts: &[Option<String>]) -> Result<Vec<Vec<usize>>, Oversized> {
    plan_within(ops, texts, MAX_REQUEST_BYTES, MAX_BATCH_STATEMENTS)
}

fn plan_within(
    ops: &[ContextOp],
    texts: &[Option<String>],
    max_bytes: usize,
    max_statements: usize,
) -> Result<Vec<Vec<usize>>, Oversized> {
    let bytes = |index: usize| ops[index].key().len() + texts[index].as_ref().map_or(0, String::len);
    if let Some(index) = (0..ops.len()).find(|&index| bytes(index) > max_bytes) {
        return Err(Oversized {
            index,
            bytes: bytes(index),
        });
    }
    let total: usize = (0..ops.len()).map(bytes).sum();
    if total <= max_bytes && ops.len() <= max_statements {
        return Ok(vec![(0..ops.len()).collect()]);
    }
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&index| records_progress(ops[index].key()));
    let mut requests: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut current_bytes = 0;
    for index in order {
        let full = current.len() == max_statements || current_bytes + bytes(index) > max_bytes;
        if full && !current.is_empty() {
            requests.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
        current_bytes += bytes(index);
        current.push(index);
    }
    if !current.is_empty() {
        requests.push(current);
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(keys: &[&str], size: usize) -> (Vec<ContextOp>, Vec<Option<String>>) {
        let ops: Vec<ContextOp> = keys.iter().map(|key| ContextOp::set(*key, json!(1))).collect();
        let texts = keys.iter().map(|_| Some("x".repeat(size))).collect();
        (ops, texts)
    }

    #[test]
    fn a_write_that_fits_is_one_request_in_its_own_order() {
        let (ops, texts) = write(&["_outputs.a", "b", "_inputs.c"], 10);
        assert_eq!(plan_within(&ops, &texts, 100, 10), Ok(vec![vec![0, 1, 2]]));
    }

    #[test]
    fn a_larger_write_is_split_with_progress_keys_last() {
        let (ops, texts) = write(&["_outputs.a", "item1", "_inputs.c", "item2", "item3"], 30);
        let requests = plan_within(&ops, &texts, 100, 10).unwrap();
        // Each cell is 30 bytes plus its key: at most two fit under 100 bytes.
        assert_eq!(requests, vec![vec![1, 3], vec![4, 0], vec![2]]);
        let by_count = plan_within(&ops, &texts, 10_000, 2).unwrap();
        assert_eq!(by_count, vec![vec![1, 3], vec![4, 0], vec![2]]);
    }

    #[test]
    fn a_cell_over_the_request_limit_is_refused() {
        let (ops, texts) = write(&["a", "b"], 200);
        assert_eq!(
            plan_within(&ops, &texts, 100, 10),
            Err(Oversized { index: 0, bytes: 201 })
        );
    }
}
