//! `CassandraContext`: Flowcraft's `IAsyncContext` for one run, on the per-key context rows.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use super::errors::{coded, spawn_coded};
use super::options::CassandraConfig;
use crate::cassandra::context_table::ContextTable;
use crate::cassandra::identifiers::qualified_table;
use crate::cassandra::{session, CassandraError, CassandraOptions};
use crate::engine::limits::depth_problem;
use crate::engine::{ContextOp, EngineError};

#[napi(object)]
pub struct CassandraContextOptions {
    pub cassandra: CassandraConfig,
    /// Default `flowcraft`.
    pub keyspace: Option<String>,
    /// Default `flowcraft_contexts`.
    pub context_table_name: Option<String>,
    /// The run whose context this is.
    pub run_id: String,
    /// Create keyspace and table when missing (default false: a missing table is an error).
    pub ensure_schema: Option<bool>,
}

/// One entry of `patch()`: `{ op: 'set', key, value }` or `{ op: 'delete', key }`.
#[napi(object)]
pub struct ContextPatchOperation {
    #[napi(ts_type = "'set' | 'delete'")]
    pub op: String,
    pub key: String,
    pub value: Option<Value>,
}

struct Settings {
    options: CassandraOptions,
    keyspace: String,
    table: String,
    ensure_schema: bool,
}

#[napi]
pub struct CassandraContext {
    run_id: String,
    settings: Arc<Settings>,
    table: Arc<OnceCell<Arc<ContextTable>>>,
}

impl CassandraContext {
    fn opened(
        &self,
    ) -> impl std::future::Future<Output = std::result::Result<Arc<ContextTable>, CassandraError>> {
        let cell = Arc::clone(&self.table);
        let settings = Arc::clone(&self.settings);
        async move {
            cell.get_or_try_init(|| async {
                let session = session::connect(&settings.options).await?;
                ContextTable::open(
                    session,
                    &settings.keyspace,
                    &settings.table,
                    settings.ensure_schema,
                )
                .await
                .map(Arc::new)
            })
            .await
            .cloned()
        }
    }
}

#[napi]
impl CassandraContext {
    /// Checks the options now (identifiers, contact points); connects on first use.
    #[napi(constructor)]
    pub fn new(env: Env, options: CassandraContextOptions) -> Result<Self> {
        let keyspace = options.keyspace.unwrap_or_else(|| "flowcraft".into());
        let table = options
            .context_table_name
            .unwrap_or_else(|| "flowcraft_contexts".into());
        let cassandra = options.cassandra.to_options();
        let checked = cassandra
            .validate()
            .and_then(|_| qualified_table(&keyspace, &table, "contextTableName"));
        if let Err(error) = checked {
            return Err(super::errors::coded(&env, &error));
        }
        Ok(CassandraContext {
            run_id: options.run_id,
            settings: Arc::new(Settings {
                options: cassandra,
                keyspace,
                table,
                ensure_schema: options.ensure_schema.unwrap_or(false),
            }),
            table: Arc::new(OnceCell::new()),
        })
    }

    #[napi(getter)]
    pub fn run_id(&self) -> String {
        self.run_id.clone()
    }

    /// Connects and prepares now; rejects with ERR_CASSANDRA_UNREACHABLE or
    /// ERR_CASSANDRA_MISSING_TABLE.
    #[napi]
    pub fn connect<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let table = self.opened();
        spawn_coded(env, async move { table.await.map(|_| ()) })
    }

    #[napi(ts_return_type = "Promise<any>")]
    pub fn get<'env>(&self, env: &'env Env, key: String) -> Result<PromiseRaw<'env, Either<Value, ()>>> {
        let (table, run_id) = (self.opened(), self.run_id.clone());
        spawn_coded(env, async move {
            Ok::<_, CassandraError>(match table.await?.get(&run_id, &key).await? {
                Some(value) => Either::A(value),
                None => Either::B(()),
            })
        })
    }

    /// Stores `value` (JSON; `undefined` is stored as `null`).
    #[napi]
    pub fn set<'env>(
        &self,
        env: &'env Env,
        key: String,
        value: Option<Value>,
    ) -> Result<PromiseRaw<'env, ()>> {
        let value = value.unwrap_or(Value::Null);
        self.check_depth(env, &key, &value)?;
        let (table, run_id) = (self.opened(), self.run_id.clone());
        spawn_coded(env, async move { table.await?.set(&run_id, &key, &value).await })
    }

    #[napi]
    pub fn has<'env>(&self, env: &'env Env, key: String) -> Result<PromiseRaw<'env, bool>> {
        let (table, run_id) = (self.opened(), self.run_id.clone());
        spawn_coded(env, async move {
            Ok::<_, CassandraError>(table.await?.get(&run_id, &key).await?.is_some())
        })
    }

    /// Resolves true when the key existed.
    #[napi]
    pub fn delete<'env>(&self, env: &'env Env, key: String) -> Result<PromiseRaw<'env, bool>> {
        let (table, run_id) = (self.opened(), self.run_id.clone());
        spawn_coded(env, async move { table.await?.delete(&run_id, &key).await })
    }

    /// The whole context as a plain object.
    #[napi(js_name = "toJSON", ts_return_type = "Promise<Record<string, any>>")]
    pub fn to_json<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Map<String, Value>>> {
        let (table, run_id) = (self.opened(), self.run_id.clone());
        spawn_coded(env, async move { table.await?.load(&run_id).await })
    }

    /// Applies all operations atomically (one single-partition batch), or in order in several
    /// when they are over one request (15 MiB of keys and values, or 4,096 operations).
    #[napi]
    pub fn patch<'env>(
        &self,
        env: &'env Env,
        operations: Vec<ContextPatchOperation>,
    ) -> Result<PromiseRaw<'env, ()>> {
        let mut writes = Vec::with_capacity(operations.len());
        for (index, operation) in operations.into_iter().enumerate() {
            match operation.op.as_str() {
                "set" => {
                    let value = operation.value.unwrap_or(Value::Null);
                    self.check_depth(env, &operation.key, &value)?;
                    writes.push(ContextOp::set(operation.key, value))
                }
                "delete" => writes.push(ContextOp::delete(operation.key)),
                other => {
                    return Err(Error::new(
                        Status::InvalidArg,
                        format!("patch operations[{index}].op = {other:?}: expected 'set' or 'delete'"),
                    ))
                }
            }
        }
        let (table, run_id) = (self.opened(), self.run_id.clone());
        spawn_coded(env, async move { table.await?.apply(&run_id, writes).await })
    }
}

impl CassandraContext {
    /// Held to the depth limit of every value written to a run (README, "Input limits"), so
    /// that what this class writes every reader of the run's context can read.
    fn check_depth(&self, env: &Env, key: &str, value: &Value) -> Result<()> {
        let what = format_args!("context of run '{}': key '{key}'", self.run_id);
        match depth_problem(what, value) {
            None => Ok(()),
            Some(message) => Err(coded(env, &EngineError::InvalidInput { message })),
        }
    }
}
