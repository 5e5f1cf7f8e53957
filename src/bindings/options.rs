//! JS option objects and their conversion into backend settings.

use std::collections::HashMap;
use std::time::Duration;

use napi::bindgen_prelude::{sys, Either, FromNapiValue, Object, ToNapiValue, TypeName, Unknown};
use napi::{Status, ValueType};
use napi_derive::napi;

use crate::cassandra::options::{CassandraTls, Credentials};
use crate::cassandra::CassandraOptions;
use crate::kafka::options::{SaslOptions, SslOptions};
use crate::kafka::{KafkaError, KafkaOptions};
use crate::redis::{RedisOptions, RedisTls};

#[napi(object)]
#[derive(Clone)]
pub struct KafkaSslConfig {
    pub ca_location: Option<String>,
    pub cert_location: Option<String>,
    pub key_location: Option<String>,
    pub reject_unauthorized: Option<bool>,
}

#[napi(object)]
#[derive(Clone)]
pub struct KafkaSaslConfig {
    /// `plain`, `scram-sha-256` or `scram-sha-512`.
    pub mechanism: String,
    pub username: String,
    pub password: String,
}

/// Kafka settings, with kafkajs-like names.
#[napi(object)]
#[derive(Clone)]
pub struct KafkaConfig {
    /// `host:port` of one or more brokers.
    pub brokers: Vec<String>,
    /// Defaults to `flowcraft-kafka-native`.
    pub client_id: Option<String>,
    pub ssl: Option<Either<bool, KafkaSslConfig>>,
    pub sasl: Option<KafkaSaslConfig>,
    /// Any librdkafka property, applied last (overrides ours).
    pub config: Option<HashMap<String, String>>,
    /// How long to wait for a broker before failing with ERR_KAFKA_UNREACHABLE (default 10000).
    pub connect_timeout_ms: Option<u32>,
}

#[napi(object)]
#[derive(Clone)]
pub struct CassandraCredentials {
    pub username: String,
    pub password: String,
}

/// TLS to Cassandra's CQL port (PEM files).
#[napi(object)]
#[derive(Clone)]
pub struct CassandraSslConfig {
    /// CA certificate(s) to trust; default: the system's CA store.
    pub ca_location: Option<String>,
    /// Client certificate, when the server requires one.
    pub cert_location: Option<String>,
    pub key_location: Option<String>,
    /// false accepts any server certificate (testing only); default true.
    pub reject_unauthorized: Option<bool>,
}

/// Cassandra settings, named as cassandra-driver names them.
#[napi(object)]
#[derive(Clone)]
pub struct CassandraConfig {
    /// `host` or `host:port` (default port 9042).
    pub contact_points: Vec<String>,
    pub local_data_center: Option<String>,
    pub credentials: Option<CassandraCredentials>,
    /// `true` (system CA store) or PEM files.
    pub ssl: Option<Either<bool, CassandraSslConfig>>,
    /// How long to wait for a CQL handshake before ERR_CASSANDRA_UNREACHABLE (default 10000).
    pub connect_timeout_ms: Option<u32>,
}

/// TLS to Redis (PEM files).
#[napi(object)]
#[derive(Clone)]
pub struct RedisTlsConfig {
    /// CA certificate(s) to trust instead of the system's CA store (every certificate of the file).
    pub ca_location: Option<String>,
    /// Client certificate, when the server asks for one; give `keyLocation` with it.
    pub cert_location: Option<String>,
    /// The client certificate's key: unencrypted PEM (PKCS#8, RSA or EC).
    pub key_location: Option<String>,
    /// false accepts any server certificate and host name (testing only); default true.
    pub reject_unauthorized: Option<bool>,
}

#[napi(object)]
#[derive(Clone)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`, or `rediss://...` for TLS; default `redis://127.0.0.1:6379`.
    pub url: Option<String>,
    /// How long to wait for a connection before ERR_REDIS_UNREACHABLE (default 10000).
    pub connect_timeout_ms: Option<u32>,
    /// TLS: `true` verifies the server against the system's CA store, or PEM files. A
    /// `rediss://` URL uses TLS without it.
    #[napi(ts_type = "boolean | RedisTlsConfig")]
    pub tls: Option<RedisTlsSetting>,
    /// ACL user (Redis 6+); replaces the URL's user.
    pub username: Option<String>,
    /// Replaces the URL's password. Never logged nor shown in errors.
    pub password: Option<String>,
}

/// `redis.tls`: `true`, `false` or a `RedisTlsConfig`, read by hand so that a wrong value
/// names its field (`redis.tls.caLocation must be a string ...`).
#[derive(Clone)]
pub struct RedisTlsSetting(pub Either<bool, RedisTlsConfig>);

const REDIS_TLS_FIELDS: [&str; 4] = ["caLocation", "certLocation", "keyLocation", "rejectUnauthorized"];

impl TypeName for RedisTlsSetting {
    fn type_name() -> &'static str {
        "boolean | RedisTlsConfig"
    }

    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl FromNapiValue for RedisTlsSetting {
    unsafe fn from_napi_value(env: sys::napi_env, napi_val: sys::napi_value) -> napi::Result<Self> {
        let value = unsafe { Unknown::from_napi_value(env, napi_val)? };
        match value.get_type()? {
            ValueType::Boolean => Ok(RedisTlsSetting(Either::A(unsafe { value.cast::<bool>()? }))),
            ValueType::Object => {
                let object = unsafe { Object::from_napi_value(env, napi_val)? };
                if let Some(unknown) = Object::keys(&object)?
                    .into_iter()
                    .find(|key| !REDIS_TLS_FIELDS.contains(&key.as_str()))
                {
                    return Err(invalid(format!(
                        "redis.tls.{unknown} is not an option (known: {})",
                        REDIS_TLS_FIELDS.join(", ")
                    )));
                }
                Ok(RedisTlsSetting(Either::B(RedisTlsConfig {
                    ca_location: tls_field(&object, "caLocation", ValueType::String)?,
                    cert_location: tls_field(&object, "certLocation", ValueType::String)?,
                    key_location: tls_field(&object, "keyLocation", ValueType::String)?,
                    reject_unauthorized: tls_field(&object, "rejectUnauthorized", ValueType::Boolean)?,
                })))
            }
            other => Err(invalid(format!(
                "redis.tls must be true, false or {{ caLocation, certLocation, keyLocation, rejectUnauthorized }}, not {}",
                type_name(other)
            ))),
        }
    }
}

impl ToNapiValue for RedisTlsSetting {
    unsafe fn to_napi_value(env: sys::napi_env, value: Self) -> napi::Result<sys::napi_value> {
        unsafe { Either::to_napi_value(env, value.0) }
    }
}

/// One field of `redis.tls`: absent (or undefined) is `None`; any other type than `expected`
/// is an error naming the field.
fn tls_field<T: FromNapiValue>(object: &Object, name: &str, expected: ValueType) -> napi::Result<Option<T>> {
    let Some(value) = object.get::<Unknown>(name)? else {
        return Ok(None);
    };
    let actual = value.get_type()?;
    if actual != expected {
        return Err(invalid(format!(
            "redis.tls.{name} must be a {}, not {}",
            type_name(expected),
            type_name(actual)
        )));
    }
    // The type was checked just above.
    unsafe { value.cast::<T>() }.map(Some)
}

fn type_name(value_type: ValueType) -> &'static str {
    match value_type {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "boolean",
        ValueType::Number => "number",
        ValueType::String => "string",
        ValueType::Symbol => "symbol",
        ValueType::Object => "object",
        ValueType::Function => "function",
        ValueType::BigInt => "bigint",
        _ => "value of another type",
    }
}

fn invalid(reason: String) -> napi::Error {
    napi::Error::new(Status::InvalidArg, reason)
}

fn timeout_or(ms: Option<u32>, default: Duration) -> Duration {
    ms.map(|ms| Duration::from_millis(ms as u64)).unwrap_or(default)
}

impl KafkaConfig {
    pub fn to_options(&self) -> Result<KafkaOptions, KafkaError> {
        let mut options = KafkaOptions::new(
            self.brokers.clone(),
            self.client_id
                .clone()
                .unwrap_or_else(|| "flowcraft-kafka-native".into()),
        )?;
        options.connect_timeout = timeout_or(self.connect_timeout_ms, options.connect_timeout);
        options.ssl = self.ssl.clone().map(|ssl| match ssl {
            Either::A(enabled) => SslOptions::Enabled(enabled),
            Either::B(files) => SslOptions::Files {
                ca_location: files.ca_location,
                cert_location: files.cert_location,
                key_location: files.key_location,
                reject_unauthorized: files.reject_unauthorized,
            },
        });
        options.sasl = self.sasl.clone().map(|sasl| SaslOptions {
            mechanism: sasl.mechanism,
            username: sasl.username,
            password: sasl.password,
        });
        if let Some(config) = &self.config {
            options.config.extend(config.clone());
        }
        options.validate()?;
        Ok(options)
    }
}

impl CassandraConfig {
    pub fn to_options(&self) -> CassandraOptions {
        CassandraOptions {
            contact_points: self.contact_points.clone(),
            local_data_center: self.local_data_center.clone(),
            credentials: self.credentials.clone().map(|c| Credentials {
                username: c.username,
                password: c.password,
            }),
            tls: match self.ssl.clone() {
                None | Some(Either::A(false)) => None,
                Some(Either::A(true)) => Some(CassandraTls {
                    reject_unauthorized: true,
                    ..Default::default()
                }),
                Some(Either::B(files)) => Some(CassandraTls {
                    ca_location: files.ca_location,
                    cert_location: files.cert_location,
                    key_location: files.key_location,
                    reject_unauthorized: files.reject_unauthorized.unwrap_or(true),
                }),
            },
            connect_timeout: timeout_or(
                self.connect_timeout_ms,
                crate::cassandra::options::DEFAULT_CONNECT_TIMEOUT,
            ),
        }
    }
}

impl RedisConfig {
    pub fn to_options(&self) -> RedisOptions {
        let defaults = RedisOptions::default();
        RedisOptions {
            url: self.url.clone().unwrap_or(defaults.url),
            connect_timeout: timeout_or(self.connect_timeout_ms, defaults.connect_timeout),
            tls: match self.tls.clone().map(|setting| setting.0) {
                None | Some(Either::A(false)) => None,
                Some(Either::A(true)) => Some(RedisTls::default()),
                Some(Either::B(files)) => Some(RedisTls {
                    ca_location: files.ca_location,
                    cert_location: files.cert_location,
                    key_location: files.key_location,
                    reject_unauthorized: files.reject_unauthorized.unwrap_or(true),
                }),
            },
            username: self.username.clone(),
            password: self.password.clone(),
        }
    }
}
