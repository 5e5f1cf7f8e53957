//! Opens both Cassandra-backed engine stores on one shared session: what the
//! adapter calls once at start.

use std::sync::Arc;

use scylla::client::session::Session;

use super::active_runs::ActiveRunsIndex;
use super::context_table::ContextTable;
use super::schema::{active_runs_table, context_table, prepare_tables, status_table, TableNames};
use super::status_store::{CassandraStatusStore, ResultPolling};
use super::status_table::StatusTable;
use super::{session, CassandraError, CassandraOptions};

/// The engine's context and status stores, sharing one session.
pub struct CassandraStores {
    pub session: Arc<Session>,
    pub context: Arc<ContextTable>,
    pub status: Arc<CassandraStatusStore>,
    pub names: TableNames,
}

impl CassandraStores {
    /// Connects (bounded handshake), creates or checks the schema, prepares
    /// every statement.
    pub async fn connect(
        options: &CassandraOptions,
        names: TableNames,
        ensure_schema: bool,
    ) -> Result<Self, CassandraError> {
        let session = session::connect(options).await?;
        Self::open(session, names, ensure_schema, ResultPolling::default()).await
    }

    /// Same on an existing session.
    pub async fn open(
        session: Arc<Session>,
        names: TableNames,
        ensure_schema: bool,
        polling: ResultPolling,
    ) -> Result<Self, CassandraError> {
        let tables = [
            context_table(&names.keyspace, &names.context)?,
            status_table(&names),
            active_runs_table(&names),
        ];
        prepare_tables(&session, &names.keyspace, &tables, ensure_schema).await?;
        let context = ContextTable::prepare(Arc::clone(&session), names.qualified(&names.context)).await?;
        let table = StatusTable::prepare(Arc::clone(&session), names.qualified(&names.status)).await?;
        let index =
            ActiveRunsIndex::prepare(Arc::clone(&session), names.qualified(&names.active_runs)).await?;
        Ok(CassandraStores {
            context: Arc::new(context),
            status: Arc::new(CassandraStatusStore::new(table, index, polling)),
            session,
            names,
        })
    }
}
