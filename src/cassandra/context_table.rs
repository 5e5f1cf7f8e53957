//! A run's context stored one row per key, `PRIMARY KEY (run_id, key)`, so writers of
//! different keys never overwrite each other (the reference's whole-blob
//! read-modify-write loses updates). Values are JSON text.

use std::sync::Arc;

use futures::TryStreamExt;
use scylla::client::session::Session;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use serde_json::{Map, Value};

use super::identifiers::qualified_table;
use super::CassandraError;

/// One change to a run's context.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyWrite {
    Set(String, Value),
    Delete(String),
}

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
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {table} (run_id text, key text, value text, PRIMARY KEY (run_id, key))"
        );
        prepare_schema(&session, keyspace, table_name, &table, ensure_schema, &[ddl]).await?;
        let prepare = |cql: String| {
            let session = Arc::clone(&session);
            let table = table.clone();
            async move {
                session.prepare(cql).await.map_err(|e| CassandraError::Query {
                    operation: "PREPARE",
                    table,
                    cause: e.to_string(),
                })
            }
        };
        Ok(ContextTable {
            select_one: prepare(format!("SELECT value FROM {table} WHERE run_id = ? AND key = ?")).await?,
            select_all: prepare(format!("SELECT key, value FROM {table} WHERE run_id = ?")).await?,
            upsert: prepare(format!(
                "INSERT INTO {table} (run_id, key, value) VALUES (?, ?, ?)"
            ))
            .await?,
            delete: prepare(format!("DELETE FROM {table} WHERE run_id = ? AND key = ?")).await?,
            session,
            table,
        })
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub async fn get(&self, run_id: &str, key: &str) -> Result<Option<Value>, CassandraError> {
        let result = self
            .session
            .execute_unpaged(&self.select_one, (run_id, key))
            .await
            .map_err(|e| self.query_error("SELECT", e))?;
        let rows = result
            .into_rows_result()
            .map_err(|e| self.query_error("SELECT", e))?;
        match rows
            .maybe_first_row::<(String,)>()
            .map_err(|e| self.query_error("SELECT", e))?
        {
            Some((text,)) => Ok(Some(self.decode(key, &text)?)),
            None => Ok(None),
        }
    }

    /// The whole context of one run, paged through so large contexts are fine.
    pub async fn load(&self, run_id: &str) -> Result<Map<String, Value>, CassandraError> {
        let pager = self
            .session
            .execute_iter(self.select_all.clone(), (run_id,))
            .await
            .map_err(|e| self.query_error("SELECT", e))?;
        let mut rows = pager
            .rows_stream::<(String, String)>()
            .map_err(|e| self.query_error("SELECT", e))?;
        let mut context = Map::new();
        while let Some((key, text)) = rows.try_next().await.map_err(|e| self.query_error("SELECT", e))? {
            let value = self.decode(&key, &text)?;
            context.insert(key, value);
        }
        Ok(context)
    }

    pub async fn set(&self, run_id: &str, key: &str, value: &Value) -> Result<(), CassandraError> {
        self.apply(run_id, &[KeyWrite::Set(key.to_string(), value.clone())])
            .await
    }

    /// Removes `key`; tells whether it was there.
    pub async fn delete(&self, run_id: &str, key: &str) -> Result<bool, CassandraError> {
        let existed = self.get(run_id, key).await?.is_some();
        self.apply(run_id, &[KeyWrite::Delete(key.to_string())]).await?;
        Ok(existed)
    }

    /// Applies every write as one single-partition batch: all or nothing, isolated.
    pub async fn apply(&self, run_id: &str, writes: &[KeyWrite]) -> Result<(), CassandraError> {
        match writes {
            [] => Ok(()),
            [KeyWrite::Set(key, value)] => self
                .session
                .execute_unpaged(&self.upsert, (run_id, key.as_str(), value.to_string()))
                .await
                .map(|_| ())
                .map_err(|e| self.query_error("INSERT", e)),
            [KeyWrite::Delete(key)] => self
                .session
                .execute_unpaged(&self.delete, (run_id, key.as_str()))
                .await
                .map(|_| ())
                .map_err(|e| self.query_error("DELETE", e)),
            _ => {
                let mut batch = Batch::new(BatchType::Unlogged);
                let mut values: Vec<Vec<Option<String>>> = Vec::with_capacity(writes.len());
                for write in writes {
                    match write {
                        KeyWrite::Set(key, value) => {
                            batch.append_statement(self.upsert.clone());
                            values.push(vec![
                                Some(run_id.into()),
                                Some(key.clone()),
                                Some(value.to_string()),
                            ]);
                        }
                        KeyWrite::Delete(key) => {
                            batch.append_statement(self.delete.clone());
                            values.push(vec![Some(run_id.into()), Some(key.clone())]);
                        }
                    }
                }
                self.session
                    .batch(&batch, values)
                    .await
                    .map(|_| ())
                    .map_err(|e| self.query_error("BATCH", e))
            }
        }
    }

    fn decode(&self, key: &str, text: &str) -> Result<Value, CassandraError> {
        serde_json::from_str(text).map_err(|e| CassandraError::Decode {
            table: self.table.clone(),
            key: key.to_string(),
            cause: e.to_string(),
        })
    }

    fn query_error(&self, operation: &'static str, cause: impl std::fmt::Display) -> CassandraError {
        CassandraError::Query {
            operation,
            table: self.table.clone(),
            cause: cause.to_string(),
        }
    }
}

/// Creates keyspace and tables when asked; otherwise checks the table is there, so a
/// missing table is reported by name instead of as a failed PREPARE.
pub async fn prepare_schema(
    session: &Session,
    keyspace: &str,
    table_name: &str,
    qualified: &str,
    ensure_schema: bool,
    ddl: &[String],
) -> Result<(), CassandraError> {
    let schema_error = |cause: String| CassandraError::Schema {
        table: qualified.to_string(),
        cause,
    };
    if ensure_schema {
        let create_keyspace = format!(
            "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
        );
        session
            .query_unpaged(create_keyspace, &[])
            .await
            .map_err(|e| schema_error(e.to_string()))?;
        for statement in ddl {
            session
                .query_unpaged(statement.as_str(), &[])
                .await
                .map_err(|e| schema_error(e.to_string()))?;
        }
        return Ok(());
    }
    let found = session
        .query_unpaged(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
            (keyspace, table_name),
        )
        .await
        .map_err(|e| schema_error(e.to_string()))?
        .into_rows_result()
        .map_err(|e| schema_error(e.to_string()))?
        .rows_num();
    if found == 0 {
        return Err(CassandraError::MissingTable {
            table: qualified.to_string(),
        });
    }
    Ok(())
}
