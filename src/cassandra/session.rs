//! Opening a session that fails with a coded error instead of hanging.

use std::sync::Arc;

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::timestamp_generator::MonotonicTimestampGenerator;

use openssl::ssl::{SslContext, SslContextBuilder, SslFiletype, SslMethod, SslVerifyMode};

use super::options::CassandraTls;
use super::{CassandraError, CassandraOptions};

/// Connects within `options.connect_timeout`. The driver's own connection timeout covers
/// only TCP: a server that accepts and stays silent would hang the handshake, hence the
/// outer timeout.
pub async fn connect(options: &CassandraOptions) -> Result<Arc<Session>, CassandraError> {
    options.validate()?;
    let addresses = options.addresses();
    let mut builder = SessionBuilder::new()
        .known_nodes(&addresses)
        .connection_timeout(options.connect_timeout)
        // Client-side, per-process monotonic write timestamps: a process's
        // consecutive writes to one cell keep their order whichever
        // coordinator receives them.
        .timestamp_generator(Arc::new(MonotonicTimestampGenerator::new()));
    if let Some(dc) = &options.local_data_center {
        builder = builder.prefer_datacenter(dc.clone());
    }
    if let Some(credentials) = &options.credentials {
        builder = builder.user(&credentials.username, &credentials.password);
    }
    if let Some(tls) = &options.tls {
        builder = builder.tls_context(Some(tls_context(tls)?));
    }
    let unreachable = |cause: String| CassandraError::Unreachable {
        contact_points: addresses.join(","),
        timeout_ms: options.connect_timeout.as_millis() as u64,
        cause,
    };
    match tokio::time::timeout(options.connect_timeout, builder.build()).await {
        Ok(Ok(session)) => Ok(Arc::new(session)),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable("timed out during the CQL handshake".into())),
    }
}

fn tls_context(tls: &CassandraTls) -> Result<SslContext, CassandraError> {
    let config_error = |what: &str, path: &str, cause: openssl::error::ErrorStack| CassandraError::Config {
        reason: format!("cassandra.ssl.{what} = {path:?}: {cause}"),
    };
    let mut builder = SslContextBuilder::new(SslMethod::tls()).map_err(|e| CassandraError::Config {
        reason: format!("cassandra.ssl: {e}"),
    })?;
    match &tls.ca_location {
        Some(path) => builder
            .set_ca_file(path)
            .map_err(|e| config_error("caLocation", path, e))?,
        None => builder
            .set_default_verify_paths()
            .map_err(|e| CassandraError::Config {
                reason: format!("cassandra.ssl: system CA store: {e}"),
            })?,
    }
    if let Some(path) = &tls.cert_location {
        builder
            .set_certificate_chain_file(path)
            .map_err(|e| config_error("certLocation", path, e))?;
    }
    if let Some(path) = &tls.key_location {
        builder
            .set_private_key_file(path, SslFiletype::PEM)
            .map_err(|e| config_error("keyLocation", path, e))?;
    }
    builder.set_verify(if tls.reject_unauthorized {
        SslVerifyMode::PEER
    } else {
        SslVerifyMode::NONE
    });
    Ok(builder.build())
}

/// `SELECT release_version FROM system.local`: proves the node answers CQL.
pub async fn release_version(session: &Session) -> Result<String, CassandraError> {
    let query_error = |cause: String| CassandraError::Query {
        operation: "SELECT release_version",
        table: "system.local".into(),
        cause,
        refused: false,
    };
    let result = session
        .query_unpaged("SELECT release_version FROM system.local", &[])
        .await
        .map_err(|e| query_error(e.to_string()))?;
    let rows = result
        .into_rows_result()
        .map_err(|e| query_error(e.to_string()))?;
    let (version,) = rows
        .single_row::<(String,)>()
        .map_err(|e| query_error(e.to_string()))?;
    Ok(version)
}
