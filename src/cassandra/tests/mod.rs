//! Integration tests against the local Cassandra (127.0.0.1:9042, started by
//! `stack/stack.sh up` / `npm test`). They fail, never skip, without it.

mod active_runs_tests;
mod context_tests;
mod status_tests;

use std::time::Duration;

use super::{CassandraOptions, CassandraStores, ResultPolling, TableNames};

pub fn local_options() -> CassandraOptions {
    CassandraOptions {
        contact_points: vec![
            std::env::var("CASSANDRA_CONTACT_POINT").unwrap_or_else(|_| "127.0.0.1:9042".into())
        ],
        local_data_center: None,
        credentials: None,
        tls: None,
        connect_timeout: Duration::from_secs(10),
    }
}

/// A fresh keyspace for one test: `ft_<random>_<label>`.
pub fn unique_names(label: &str) -> TableNames {
    let random = uuid::Uuid::new_v4().simple().to_string();
    let keyspace = format!("ft_{}_{label}", &random[..10]);
    TableNames::new(
        &keyspace,
        TableNames::DEFAULT_CONTEXT_TABLE,
        TableNames::DEFAULT_STATUS_TABLE,
    )
    .expect("test keyspace name is a valid identifier")
}

/// Stores on a fresh keyspace with the schema created.
pub async fn fresh_stores(label: &str) -> CassandraStores {
    CassandraStores::connect(&local_options(), unique_names(label), true)
        .await
        .expect("local Cassandra at 127.0.0.1:9042 must be running (bash stack/stack.sh up)")
}

/// A second "process": its own session on the same keyspace.
pub async fn second_process(stores: &CassandraStores) -> CassandraStores {
    let session = super::session::connect(&local_options())
        .await
        .expect("second session");
    CassandraStores::open(session, stores.names.clone(), false, ResultPolling::default())
        .await
        .expect("second process opens the existing schema")
}

pub async fn drop_keyspace(stores: &CassandraStores) {
    let cql = format!("DROP KEYSPACE IF EXISTS {}", stores.names.keyspace);
    let _ = stores.session.query_unpaged(cql, &[]).await;
}
