//! Cassandra connection settings, named as cassandra-driver names them.

use std::time::Duration;

use serde::Deserialize;

use super::CassandraError;

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// TLS to the CQL port. PEM files; without `ca_location` the system's CA store is used.
#[derive(Debug, Clone, Default)]
pub struct CassandraTls {
    pub ca_location: Option<String>,
    pub cert_location: Option<String>,
    pub key_location: Option<String>,
    /// false: accept any server certificate (testing only).
    pub reject_unauthorized: bool,
}

#[derive(Debug, Clone)]
pub struct CassandraOptions {
    pub contact_points: Vec<String>,
    pub local_data_center: Option<String>,
    pub credentials: Option<Credentials>,
    pub tls: Option<CassandraTls>,
    pub connect_timeout: Duration,
}

impl CassandraOptions {
    pub fn validate(&self) -> Result<(), CassandraError> {
        if self.contact_points.is_empty() {
            return Err(CassandraError::Config {
                reason: "cassandra.contactPoints is empty: give at least one 'host' or 'host:port'".into(),
            });
        }
        if let Some(index) = self.contact_points.iter().position(|p| p.trim().is_empty()) {
            return Err(CassandraError::Config {
                reason: format!("cassandra.contactPoints[{index}] is empty"),
            });
        }
        Ok(())
    }

    /// Contact points with the default CQL port added where none is given.
    pub fn addresses(&self) -> Vec<String> {
        self.contact_points
            .iter()
            .map(|point| {
                let has_port = point
                    .rsplit_once(':')
                    .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
                if has_port {
                    point.clone()
                } else {
                    format!("{point}:9042")
                }
            })
            .collect()
    }
}
