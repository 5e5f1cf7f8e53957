//! Kafka client settings: kafkajs-like names, with any librdkafka key passed through.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use serde::Deserialize;

use super::KafkaError;
use crate::engine::Logger;

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The SASL mechanisms `kafka.sasl` takes (others: librdkafka settings in `kafka.config`).
const SASL_MECHANISMS: [&str; 3] = ["plain", "scram-sha-256", "scram-sha-512"];

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
    /// Where the Kafka layer's diagnostics go (the adapter's logger).
    pub logger: Logger,
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
            logger: Logger::default(),
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
        if let Some(sasl) = &self.sasl {
            if !SASL_MECHANISMS.contains(&sasl.mechanism.to_lowercase().as_str()) {
                return Err(KafkaError::Config {
                    reason: format!(
                        "kafka.sasl.mechanism '{}' is not supported (plain, scram-sha-256, scram-sha-512); \
                         for others pass librdkafka's sasl.* settings in kafka.config",
                        sasl.mechanism
                    ),
                });
            }
            if sasl.username.is_empty() {
                return Err(KafkaError::Config {
                    reason: format!("kafka.sasl.username is missing (mechanism '{}')", sasl.mechanism),
                });
            }
        }
        Ok(())
    }

    /// Settings that work but are probably not what was meant.
    pub fn warnings(&self) -> Vec<String> {
        let protocol_chosen = self.config.contains_key("security.protocol");
        let mut warnings = Vec::new();
        if self.sasl.is_some() && !self.uses_ssl() && !protocol_chosen {
            warnings.push(
                "kafka.sasl is set without kafka.ssl: the SASL credentials cross the network \
                 unencrypted. Set ssl: true, or config['security.protocol'] = 'sasl_plaintext' \
                 to say it is meant."
                    .to_string(),
            );
        }
        warnings
    }

    fn uses_ssl(&self) -> bool {
        self.ssl
            .as_ref()
            .is_some_and(|ssl| !matches!(ssl, SslOptions::Enabled(false)))
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
        match (&self.sasl, self.uses_ssl()) {
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

    /// What our group consumers share: offsets committed only inside our transactions,
    /// `read_committed`, cooperative rebalancing, static membership (KIP-345) for a
    /// stable `instance_id` (restarted, it takes its partitions back at once), a 10 s
    /// session (librdkafka: 45 s; how long a killed worker keeps its partitions) and,
    /// for a new group, the earliest offset. Pass-through settings win where noted.
    pub fn group_consumer_config(&self, group_id: &str, instance_id: Option<&str>) -> ClientConfig {
        let mut config = self.client_config();
        for (key, value) in [
            ("group.id", group_id),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("isolation.level", "read_committed"),
            ("partition.assignment.strategy", "cooperative-sticky"),
        ] {
            config.set(key, value);
        }
        let configured = |key: &str| self.config.contains_key(key);
        if let (Some(id), false) = (instance_id, configured("group.instance.id")) {
            config.set("group.instance.id", id);
        }
        if !configured("session.timeout.ms") {
            config.set("session.timeout.ms", "10000");
            config.set("heartbeat.interval.ms", "2000");
        }
        if !configured("auto.offset.reset") {
            // K8: a new group must not skip the jobs produced before it joined.
            config.set("auto.offset.reset", "earliest");
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
    fn group_consumers_are_static_members_with_a_stable_id_and_pass_through_wins() {
        let mut options = KafkaOptions::new(vec!["h:1".into()], "c").unwrap();
        let config = options.group_consumer_config("g", Some("worker-1"));
        assert_eq!(config.get("group.id"), Some("g"));
        assert_eq!(config.get("group.instance.id"), Some("worker-1"));
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        assert_eq!(config.get("session.timeout.ms"), Some("10000"));
        assert_eq!(
            options.group_consumer_config("g", None).get("group.instance.id"),
            None
        );
        options.config.insert("session.timeout.ms".into(), "30000".into());
        options.config.insert("auto.offset.reset".into(), "latest".into());
        let config = options.group_consumer_config("g", None);
        assert_eq!(config.get("session.timeout.ms"), Some("30000"));
        assert_eq!(config.get("auto.offset.reset"), Some("latest"));
    }

    #[test]
    fn refused_librdkafka_settings_name_the_key_but_never_the_value() {
        let mut options = KafkaOptions::new(vec!["127.0.0.1:9092".into()], "c").unwrap();
        options.config.insert("sasl.pasword".into(), "hunter2".into());
        let refused = options
            .client_config()
            .create::<rdkafka::consumer::BaseConsumer>()
            .err()
            .expect("an unknown key is refused");
        let message = KafkaError::client_creation(refused).to_string();
        assert!(message.contains("'sasl.pasword'"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn sasl_without_ssl_warns_unless_the_protocol_is_chosen() {
        let mut options = KafkaOptions::new(vec!["h:1".into()], "c").unwrap();
        assert!(options.warnings().is_empty());
        options.sasl = Some(SaslOptions {
            mechanism: "plain".into(),
            username: "u".into(),
            password: "p".into(),
        });
        assert_eq!(options.warnings().len(), 1);
        assert!(options.warnings()[0].contains("unencrypted"));
        options
            .config
            .insert("security.protocol".into(), "sasl_plaintext".into());
        assert!(options.warnings().is_empty());
        options.config.clear();
        options.ssl = Some(SslOptions::Enabled(true));
        assert!(options.warnings().is_empty());
    }

    #[test]
    fn sasl_mechanisms_librdkafka_is_not_given_here_are_refused_by_name() {
        let mut options = KafkaOptions::new(vec!["h:1".into()], "c").unwrap();
        options.sasl = Some(SaslOptions {
            mechanism: "SCRAM-SHA-512".into(),
            username: "u".into(),
            password: "p".into(),
        });
        assert!(options.validate().is_ok(), "any case");
        options.sasl.as_mut().unwrap().mechanism = "aws".into();
        let refused = options.validate().unwrap_err().to_string();
        assert!(
            refused.contains("kafka.sasl.mechanism 'aws' is not supported"),
            "{refused}"
        );
        let sasl = options.sasl.as_mut().unwrap();
        sasl.mechanism = "plain".into();
        sasl.username.clear();
        let refused = options.validate().unwrap_err().to_string();
        assert!(refused.contains("kafka.sasl.username is missing"), "{refused}");
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
