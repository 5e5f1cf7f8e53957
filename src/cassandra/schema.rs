//! The tables the Cassandra backend uses, created when asked (`ensureSchema`)
//! and otherwise checked, so a missing table or column is reported by name
//! instead of as a failed PREPARE.

use scylla::client::session::Session;

use super::identifiers::{qualified_table, validate_identifier};
use super::CassandraError;

/// Suffix of the active-runs index table, derived from the status table's name
/// so two adapters with different status tables never share an index.
pub const ACTIVE_RUNS_SUFFIX: &str = "_active";

/// The validated names of every table in one keyspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub keyspace: String,
    pub context: String,
    pub status: String,
    pub active_runs: String,
}

impl TableNames {
    pub const DEFAULT_KEYSPACE: &'static str = "flowcraft";
    pub const DEFAULT_CONTEXT_TABLE: &'static str = "flowcraft_contexts";
    pub const DEFAULT_STATUS_TABLE: &'static str = "flowcraft_statuses";

    /// Validates the user's names (`keyspace`, `contextTableName`, `statusTableName`).
    pub fn new(keyspace: &str, context: &str, status: &str) -> Result<Self, CassandraError> {
        validate_identifier("keyspace", keyspace)?;
        validate_identifier("contextTableName", context)?;
        validate_identifier("statusTableName", status)?;
        let active_runs = format!("{status}{ACTIVE_RUNS_SUFFIX}");
        validate_identifier(
            "statusTableName (with the '_active' suffix of its index)",
            &active_runs,
        )?;
        Ok(TableNames {
            keyspace: keyspace.to_string(),
            context: context.to_string(),
            status: status.to_string(),
            active_runs,
        })
    }

    pub fn qualified(&self, table: &str) -> String {
        format!("{}.{}", self.keyspace, table)
    }
}

impl Default for TableNames {
    fn default() -> Self {
        TableNames {
            keyspace: Self::DEFAULT_KEYSPACE.into(),
            context: Self::DEFAULT_CONTEXT_TABLE.into(),
            status: Self::DEFAULT_STATUS_TABLE.into(),
            active_runs: format!("{}{ACTIVE_RUNS_SUFFIX}", Self::DEFAULT_STATUS_TABLE),
        }
    }
}

/// One table: its DDL and the columns our statements need.
pub struct TableSpec {
    pub name: String,
    pub ddl: String,
    /// Columns added after the reference's schema: `(name, type)`, added with
    /// ALTER TABLE under `ensureSchema` when an older table lacks them.
    pub added_columns: Vec<(&'static str, &'static str)>,
}

pub fn context_table(keyspace: &str, table: &str) -> Result<TableSpec, CassandraError> {
    let qualified = qualified_table(keyspace, table, "contextTableName")?;
    Ok(TableSpec {
        name: table.to_string(),
        ddl: format!(
            "CREATE TABLE IF NOT EXISTS {qualified} (run_id text, key text, value text, PRIMARY KEY (run_id, key))"
        ),
        added_columns: Vec::new(),
    })
}

/// The reference's status table plus `published`, the ordered results a run published.
pub fn status_table(names: &TableNames) -> TableSpec {
    let qualified = names.qualified(&names.status);
    TableSpec {
        name: names.status.clone(),
        ddl: format!(
            "CREATE TABLE IF NOT EXISTS {qualified} (run_id text PRIMARY KEY, status text, \
             status_data text, updated_at timestamp, published list<text>)"
        ),
        added_columns: vec![("published", "list<text>")],
    }
}

/// Runs not yet final, spread over a fixed number of partitions (buckets).
pub fn active_runs_table(names: &TableNames) -> TableSpec {
    let qualified = names.qualified(&names.active_runs);
    TableSpec {
        name: names.active_runs.clone(),
        ddl: format!(
            "CREATE TABLE IF NOT EXISTS {qualified} (bucket int, run_id text, status text, \
             updated_at timestamp, PRIMARY KEY (bucket, run_id))"
        ),
        added_columns: Vec::new(),
    }
}

/// Creates keyspace and tables when `ensure_schema`, else checks that they exist.
pub async fn prepare_tables(
    session: &Session,
    keyspace: &str,
    tables: &[TableSpec],
    ensure_schema: bool,
) -> Result<(), CassandraError> {
    validate_identifier("keyspace", keyspace)?;
    if ensure_schema {
        let create_keyspace = format!(
            "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = \
             {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
        );
        run_ddl(session, &format!("keyspace {keyspace}"), &create_keyspace).await?;
    }
    for table in tables {
        let qualified = format!("{keyspace}.{}", table.name);
        if ensure_schema {
            run_ddl(session, &qualified, &table.ddl).await?;
        } else if !table_exists(session, keyspace, &table.name).await? {
            return Err(CassandraError::MissingTable { table: qualified });
        }
        for (column, cql_type) in &table.added_columns {
            if column_exists(session, keyspace, &table.name, column).await? {
                continue;
            }
            if !ensure_schema {
                return Err(CassandraError::Schema {
                    table: qualified,
                    cause: format!(
                        "column {column} ({cql_type}) is missing: add it or pass ensureSchema: true"
                    ),
                });
            }
            let alter = format!("ALTER TABLE {qualified} ADD {column} {cql_type}");
            run_ddl(session, &qualified, &alter).await?;
        }
    }
    Ok(())
}

async fn run_ddl(session: &Session, target: &str, cql: &str) -> Result<(), CassandraError> {
    session
        .query_unpaged(cql, &[])
        .await
        .map(|_| ())
        .map_err(|e| CassandraError::Schema {
            table: target.to_string(),
            cause: e.to_string(),
        })
}

async fn table_exists(session: &Session, keyspace: &str, table: &str) -> Result<bool, CassandraError> {
    count_rows(
        session,
        &format!("{keyspace}.{table}"),
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
        (keyspace, table),
    )
    .await
    .map(|n| n > 0)
}

async fn column_exists(
    session: &Session,
    keyspace: &str,
    table: &str,
    column: &str,
) -> Result<bool, CassandraError> {
    count_rows(
        session,
        &format!("{keyspace}.{table}"),
        "SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ? AND column_name = ?",
        (keyspace, table, column),
    )
    .await
    .map(|n| n > 0)
}

async fn count_rows(
    session: &Session,
    target: &str,
    cql: &str,
    values: impl scylla::serialize::row::SerializeRow,
) -> Result<usize, CassandraError> {
    let schema_error = |cause: String| CassandraError::Schema {
        table: target.to_string(),
        cause,
    };
    Ok(session
        .query_unpaged(cql, values)
        .await
        .map_err(|e| schema_error(e.to_string()))?
        .into_rows_result()
        .map_err(|e| schema_error(e.to_string()))?
        .rows_num())
}
