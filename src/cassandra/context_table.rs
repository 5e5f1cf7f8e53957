//! A run's context stored one row per key, `PRIMARY KEY (run_id, key)`, so writers of
//! different keys never overwrite each other (the reference's whole-blob
//! read-modify-write loses updates, W1). Values are JSON text.

use std::collections::HashMap;
use std::sync::Arc;

use futures::TryStreamExt;
use scylla::client::session::Session;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use serde_json::{Map, Value};

use super::identifiers::qualified_table;
use super::schema::{context_table, prepare_tables};
use super::statements::{execution_error, prepare, query_error, CONSISTENCY};
use super::{write_chunks, CassandraError};
use crate::engine::ContextOp;

/// Rows fetched per page when loading a whole context.
const LOAD_PAGE_SIZE: i32 = 1000;

pub struct ContextTable {
    session: Arc<Session>,
    table: String,
    select_one: PreparedStatement,
    select_all: PreparedStatement,
    upsert: PreparedStatement,
    delete: PreparedStatement,
}

impl ContextTable {
    /// Prepares the statements; creates keyspace and table first when `ensure_schema`.
    pub async fn open(
        session: Arc<Session>,
        keyspace: &str,
        table_name: &str,
        ensure_schema: bool,
    ) -> Result<Self, CassandraError> {
        let table = qualified_table(keyspace, table_name, "contextTableName")?;
        let spec = context_table(keyspace, table_name)?;
        prepare_tables(&session, keyspace, &[spec], ensure_schema).await?;
        Self::prepare(session, table).await
    }

    /// Prepares the statements on a table known to exist.
    pub(crate) async fn prepare(session: Arc<Session>, table: String) -> Result<Self, CassandraError> {
        let s = &session;
        let mut select_all = prepare(
            s,
            &table,
            format!("SELECT key, value FROM {table} WHERE run_id = ?"),
            true,
        )
        .await?;
        select_all.set_page_size(LOAD_PAGE_SIZE);
        Ok(ContextTable {
            select_one: prepare(
                s,
                &table,
                format!("SELECT value FROM {table} WHERE run_id = ? AND key = ?"),
                true,
            )
            .await?,
            select_all,
            upsert: prepare(
                s,
                &table,
                format!("INSERT INTO {table} (run_id, key, value) VALUES (?, ?, ?)"),
                true,
            )
            .await?,
            delete: prepare(
                s,
                &table,
                format!("DELETE FROM {table} WHERE run_id = ? AND key = ?"),
                true,
            )
            .await?,
            session,
            table,
        })
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub async fn get(&self, run_id: &str, key: &str) -> Result<Option<Value>, CassandraError> {
        let failed = |e: String| self.run_error("SELECT", run_id, e);
        let rows = self
            .session
            .execute_unpaged(&self.select_one, (run_id, key))
            .await
            .map_err(|e| failed(e.to_string()))?
            .into_rows_result()
            .map_err(|e| failed(e.to_string()))?;
        match rows
            .maybe_first_row::<(String,)>()
            .map_err(|e| failed(e.to_string()))?
        {
            Some((text,)) => Ok(Some(self.decode(run_id, key, &text)?)),
            None => Ok(None),
        }
    }

    /// The whole context of one run, paged through so large contexts are fine.
    pub async fn load(&self, run_id: &str) -> Result<Map<String, Value>, CassandraError> {
        let failed = |e: String| self.run_error("SELECT", run_id, e);
        let pager = self
            .session
            .execute_iter(self.select_all.clone(), (run_id,))
            .await
            .map_err(|e| failed(e.to_string()))?;
        let mut rows = pager
            .rows_stream::<(String, String)>()
            .map_err(|e| failed(e.to_string()))?;
        let mut context = Map::new();
        while let Some((key, text)) = rows.try_next().await.map_err(|e| failed(e.to_string()))? {
            let value = self.decode(run_id, &key, &text)?;
            context.insert(key, value);
        }
        Ok(context)
    }

    pub async fn set(&self, run_id: &str, key: &str, value: &Value) -> Result<(), CassandraError> {
        self.apply(run_id, vec![ContextOp::set(key, value.clone())]).await
    }

    /// Removes `key`; tells whether it was there.
    pub async fn delete(&self, run_id: &str, key: &str) -> Result<bool, CassandraError> {
        let existed = self.get(run_id, key).await?.is_some();
        self.apply(run_id, vec![ContextOp::delete(key)]).await?;
        Ok(existed)
    }

    /// Applies every op as one single-partition UNLOGGED batch: all or nothing,
    /// isolated from concurrent readers (a write too large for one request goes in
    /// several, see `write_chunks`). Written at the driver's timestamp.
    pub async fn apply(&self, run_id: &str, ops: Vec<ContextOp>) -> Result<(), CassandraError> {
        self.apply_stamped(run_id, ops, None).await
    }

    /// As `apply`, with the cells written at `timestamp` (µs) when given: a replay of
    /// the same write then never undoes a later one. A cell too large for any request is
    /// refused before anything is sent (`TooLarge`, a permanent error).
    pub async fn apply_stamped(
        &self,
        run_id: &str,
        ops: Vec<ContextOp>,
        timestamp: Option<i64>,
    ) -> Result<(), CassandraError> {
        let ops = last_op_per_key(ops);
        let texts: Vec<Option<String>> = ops
            .iter()
            .map(|op| match op {
                ContextOp::Set { value, .. } => Some(value.to_string()),
                ContextOp::Delete { .. } => None,
            })
            .collect();
        let requests = write_chunks::plan(&ops, &texts).map_err(|oversized| CassandraError::TooLarge {
            table: self.table.clone(),
            run_id: run_id.to_string(),
            what: format!("context key '{}'", ops[oversized.index].key()),
            bytes: oversized.bytes,
            limit: write_chunks::MAX_REQUEST_BYTES,
        })?;
        for request in requests {
            self.write_request(run_id, &ops, &texts, &request, timestamp)
                .await?;
        }
        Ok(())
    }

    /// Sends the ops at `indices` as one request: a single statement, or a batch.
    async fn write_request(
        &self,
        run_id: &str,
        ops: &[ContextOp],
        texts: &[Option<String>],
        indices: &[usize],
        timestamp: Option<i64>,
    ) -> Result<(), CassandraError> {
        let stamped = |statement: &PreparedStatement| {
            let mut statement = statement.clone();
            statement.set_timestamp(timestamp);
            statement
        };
        let failed = |operation| move |e| execution_error(operation, &self.table, run_id, e);
        match indices {
            [] => Ok(()),
            [one] => match (&ops[*one], &texts[*one]) {
                (ContextOp::Set { key, .. }, Some(text)) => self
                    .session
                    .execute_unpaged(&stamped(&self.upsert), (run_id, key.as_str(), text.as_str()))
                    .await
                    .map(|_| ())
                    .map_err(failed("INSERT")),
                (op, _) => self
                    .session
                    .execute_unpaged(&stamped(&self.delete), (run_id, op.key()))
                    .await
                    .map(|_| ())
                    .map_err(failed("DELETE")),
            },
            _ => {
                let mut batch = Batch::new(BatchType::Unlogged);
                batch.set_consistency(CONSISTENCY);
                batch.set_is_idempotent(true);
                batch.set_timestamp(timestamp);
                let mut values: Vec<Vec<&str>> = Vec::with_capacity(indices.len());
                for &index in indices {
                    match (&ops[index], &texts[index]) {
                        (ContextOp::Set { key, .. }, Some(text)) => {
                            batch.append_statement(self.upsert.clone());
                            values.push(vec![run_id, key, text]);
                        }
                        (op, _) => {
                            batch.append_statement(self.delete.clone());
                            values.push(vec![run_id, op.key()]);
                        }
                    }
                }
                self.session
                    .batch(&batch, values)
                    .await
                    .map(|_| ())
                    .map_err(failed("BATCH"))
            }
        }
    }

    fn decode(&self, run_id: &str, key: &str, text: &str) -> Result<Value, CassandraError> {
        serde_json::from_str(text).map_err(|e| CassandraError::Decode {
            table: self.table.clone(),
            run_id: run_id.to_string(),
            key: key.to_string(),
            cause: e.to_string(),
        })
    }

    fn run_error(
        &self,
        operation: &'static str,
        run_id: &str,
        cause: impl std::fmt::Display,
    ) -> CassandraError {
        query_error(operation, &self.table, format!("run '{run_id}': {cause}"))
    }
}

/// All statements of a batch share one write timestamp, and on equal
/// timestamps Cassandra lets a delete (or the larger value) win, not the
/// later statement. Keeping only the last op per key restores "in order".
fn last_op_per_key(ops: Vec<ContextOp>) -> Vec<ContextOp> {
    let mut last_index: HashMap<String, usize> = HashMap::with_capacity(ops.len());
    for (index, op) in ops.iter().enumerate() {
        last_index.insert(op.key().to_string(), index);
    }
    ops.into_iter()
        .enumerate()
        .filter(|(index, op)| last_index.get(op.key()) == Some(index))
        .map(|(_, op)| op)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_last_op_of_each_key_in_order() {
        let ops = vec![
            ContextOp::set("a", json!(1)),
            ContextOp::set("b", json!(1)),
            ContextOp::delete("a"),
            ContextOp::set("c", json!(1)),
            ContextOp::set("b", json!(2)),
        ];
        assert_eq!(
            last_op_per_key(ops),
            vec![
                ContextOp::delete("a"),
                ContextOp::set("c", json!(1)),
                ContextOp::set("b", json!(2)),
            ]
        );
    }
}
