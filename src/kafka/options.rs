//! Kafka client settings: kafkajs-like names, with any librdkafka key passed through.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use serde::Deserialize;

use super::KafkaError;

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SaslOptions {
    /// `plain`, `scram-sha-256` or `scram-sha-512` (kafkajs spelling).
    pub mechanism: String,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SslOptions {
    Enabled(bool),
    Files {
        #[serde(rename = "caLocation")]
        ca_location: Option<String>,
        #[serde(rename = "certLocation")]
        cert_location: Option<String>,
        #[serde(rename = "keyLocation")]
        key_location: Option<String>,
        #[serde(rename = "rejectUnauthorized")]
        reject_unauthorized: Option<bool>,
    },
}

#[derive(Debug, Clone)]
pub struct KafkaOptions {
    pub brokers: Vec<String>,
    pub client_id: String,
    pub ssl: Option<SslOptions>,
    pub sasl: Option<SaslOptions>,
    /// librdkafka properties applied last, so they override ours.
    pub config: BTreeMap<String, String>,
    pub connect_timeout: Duration,
}

impl KafkaOptions {
    pub fn new(brokers: Vec<String>, client_id: impl Into<String>) -> Result<Self, KafkaError> {
        let options = KafkaOptions {
            brokers,
            client_id: client_id.into(),
            ssl: None,
            sasl: None,
            config: BTreeMap::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        };
        options.validate()?;
        Ok(options)
    }

    pub fn validate(&self) -> Result<(), KafkaError> {
        if self.brokers.is_empty() {
            return Err(KafkaError::Config {
                reason: "kafka.brokers is empty: give at least one 'host:port'".into(),
            });
        }
        for (index, broker) in self.brokers.iter().enumerate() {
            let valid_port = broker
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !valid_port {
                return Err(KafkaError::Config {
                    reason: format!("kafka.brokers[{index}] = '{broker}' is not 'host:port'"),
                });
            }
        }
        if self.client_id.is_empty() {
            return Err(KafkaError::Config {
                reason: "kafka.clientId is empty".into(),
            });
        }
        Ok(())
    }

    pub fn brokers_list(&self) -> String {
        self.brokers.join(",")
    }

    /// The librdkafka configuration shared by producers, consumers and admin clients.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.brokers_list())
            .set("client.id", &self.client_id)
            // Without these, an unreachable broker makes calls wait for minutes.
            .set(
                "socket.connection.setup.timeout.ms",
                self.connect_timeout.as_millis().max(1000).to_string(),
            )
            .set(
                "message.timeout.ms",
                self.connect_timeout.as_millis().max(1000).to_string(),
            )
            .set("log_level", "3");
        let secure = self
            .ssl
            .as_ref()
            .is_some_and(|ssl| !matches!(ssl, SslOptions::Enabled(false)));
        match (&self.sasl, secure) {
            (Some(_), true) => config.set("security.protocol", "sasl_ssl"),
            (Some(_), false) => config.set("security.protocol", "sasl_plaintext"),
            (None, true) => config.set("security.protocol", "ssl"),
            (None, false) => &mut config,
        };
        if let Some(SslOptions::Files {
            ca_location,
            cert_location,
            key_location,
            reject_unauthorized,
        }) = &self.ssl
        {
            set_if_some(&mut config, "ssl.ca.location", ca_location);
            set_if_some(&mut config, "ssl.certificate.location", cert_location);
            set_if_some(&mut config, "ssl.key.location", key_location);
            if *reject_unauthorized == Some(false) {
                config.set("enable.ssl.certificate.verification", "false");
            }
        }
        if let Some(sasl) = &self.sasl {
            config
                .set("sasl.mechanisms", sasl.mechanism.to_uppercase())
                .set("sasl.username", &sasl.username)
                .set("sasl.password", &sasl.password);
        }
        for (key, value) in &self.config {
            config.set(key, value);
        }
        config
    }
}

fn set_if_some(config: &mut ClientConfig, key: &str, value: &Option<String>) {
    if let Some(value) = value {
        config.set(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_and_malformed_brokers() {
        assert!(KafkaOptions::new(vec![], "c").is_err());
        let err = KafkaOptions::new(vec!["localhost".into()], "c").unwrap_err();
        assert!(err.to_string().contains("kafka.brokers[0] = 'localhost'"));
        assert!(KafkaOptions::new(vec!["127.0.0.1:9092".into()], "c").is_ok());
    }

    #[test]
    fn passthrough_keys_override_defaults() {
        let mut options = KafkaOptions::new(vec!["127.0.0.1:9092".into()], "c").unwrap();
        options.config.insert("message.timeout.ms".into(), "1234".into());
        let config = options.client_config();
        assert_eq!(config.get("message.timeout.ms"), Some("1234"));
        assert_eq!(config.get("bootstrap.servers"), Some("127.0.0.1:9092"));
    }

    #[test]
    fn sasl_over_ssl_sets_the_protocol() {
        let mut options = KafkaOptions::new(vec!["h:1".into()], "c").unwrap();
        options.ssl = Some(SslOptions::Enabled(true));
        options.sasl = Some(SaslOptions {
            mechanism: "scram-sha-256".into(),
            username: "u".into(),
            password: "p".into(),
        });
        let config = options.client_config();
        assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(config.get("sasl.mechanisms"), Some("SCRAM-SHA-256"));
    }
}
