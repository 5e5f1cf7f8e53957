//! The coordination commands, with Flowcraft's `ICoordinationStore` meaning. Every write
//! carries a TTL so nothing outlives its run by accident.

use fred::prelude::*;
use fred::types::{Expiration, SetOptions};

use super::options::RedisTls;
use super::{tls, RedisError, RedisOptions};

pub struct CoordinationClient {
    client: Client,
}

/// The URL schemes fred reads: plain, TLS, and their cluster and sentinel forms.
const REDIS_SCHEMES: [&str; 6] = [
    "redis",
    "rediss",
    "redis-cluster",
    "rediss-cluster",
    "redis-sentinel",
    "rediss-sentinel",
];

/// fred's settings for `options`: the URL, then TLS and the credentials given beside it.
/// A `rediss://` URL always uses TLS (with the system's CA store unless `tls` says
/// otherwise); `username` and `password` replace the URL's.
pub(crate) fn client_config(options: &RedisOptions) -> Result<Config, RedisError> {
    // fred reads any other scheme (`http://`) as plain Redis: refuse it rather than guess.
    let scheme = options.url.split_once("://").map(|(scheme, _)| scheme);
    if !scheme.is_some_and(|scheme| REDIS_SCHEMES.contains(&scheme)) {
        return Err(RedisError::Config {
            reason: format!(
                "redis url {} must start with one of {}",
                options.redacted_url(),
                REDIS_SCHEMES.map(|scheme| format!("{scheme}://")).join(", ")
            ),
        });
    }
    let mut config = Config::from_url(&options.url).map_err(|e| RedisError::Config {
        reason: format!("redis url {}: {e}", options.redacted_url()),
    })?;
    // With the TLS feature, fred sets `tls` for rediss:// (without it, fred would only
    // log a warning and connect in cleartext). Ours replaces its default connector.
    let url_uses_tls = config.tls.is_some();
    config.tls = match (&options.tls, url_uses_tls) {
        (Some(settings), _) => Some(tls::tls_config(settings)?),
        (None, true) => Some(tls::tls_config(&RedisTls::default())?),
        (None, false) => None,
    };
    if let Some(username) = &options.username {
        config.username = Some(username.clone());
    }
    if let Some(password) = &options.password {
        config.password = Some(password.clone());
    }
    if config.password.is_none() {
        if let Some(username) = &config.username {
            return Err(RedisError::Config {
                reason: format!(
                    "redis user '{username}' has no password: give redis.password or one in the url"
                ),
            });
        }
    }
    Ok(config)
}

impl CoordinationClient {
    /// Connects within `options.connect_timeout`, or fails with `Unreachable`.
    pub async fn connect(options: &RedisOptions) -> Result<Self, RedisError> {
        let config = client_config(options)?;
        let timeout = options.connect_timeout;
        let client = Builder::from_config(config)
            // After the first connection succeeds, survive a Redis restart or a
            // dropped connection: reconnect with backoff (100 ms doubling to 2 s,
            // forever). `fail_fast` (fred's default) still makes the *initial*
            // connect fail at once instead of retrying.
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
            .with_connection_config(|connection| {
                connection.connection_timeout = timeout;
                connection.internal_command_timeout = timeout;
            })
            .with_performance_config(|performance| {
                performance.default_command_timeout = timeout;
            })
            .build()
            .map_err(|e| RedisError::Config {
                reason: e.to_string(),
            })?;
        let unreachable = |cause: String| RedisError::Unreachable {
            url: options.redacted_url(),
            timeout_ms: timeout.as_millis() as u64,
            cause,
        };
        match tokio::time::timeout(timeout, client.init()).await {
            Ok(Ok(_)) => Ok(CoordinationClient { client }),
            Ok(Err(e)) => {
                let _ = client.quit().await;
                Err(unreachable(connect_failure(&e)))
            }
            Err(_) => {
                let _ = client.quit().await;
                Err(unreachable("timed out".into()))
            }
        }
    }

    /// The fred client, for the engine's coordination store.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub async fn ping(&self) -> Result<String, RedisError> {
        self.client
            .ping::<String>(None)
            .await
            .map_err(|e| command_error("PING", "", e))
    }

    /// INCR and EXPIRE in one MULTI, so a counter never exists without its TTL.
    pub async fn increment(&self, key: &str, ttl_seconds: i64) -> Result<i64, RedisError> {
        let transaction = self.client.multi();
        transaction
            .incr::<(), _>(key)
            .await
            .map_err(|e| command_error("INCR", key, e))?;
        transaction
            .expire::<(), _>(key, ttl_seconds, None)
            .await
            .map_err(|e| command_error("EXPIRE", key, e))?;
        let (count, _): (i64, i64) = transaction
            .exec(true)
            .await
            .map_err(|e| command_error("MULTI INCR", key, e))?;
        Ok(count)
    }

    /// SET NX EX: true when this call created the key.
    pub async fn set_if_not_exist(
        &self,
        key: &str,
        value: &str,
        ttl_seconds: i64,
    ) -> Result<bool, RedisError> {
        let reply: Option<String> = self
            .client
            .set(
                key,
                value,
                Some(Expiration::EX(ttl_seconds)),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(|e| command_error("SET NX", key, e))?;
        Ok(reply.is_some())
    }

    pub async fn extend_ttl(&self, key: &str, ttl_seconds: i64) -> Result<bool, RedisError> {
        let updated: i64 = self
            .client
            .expire(key, ttl_seconds, None)
            .await
            .map_err(|e| command_error("EXPIRE", key, e))?;
        Ok(updated == 1)
    }

    pub async fn delete(&self, key: &str) -> Result<(), RedisError> {
        self.client
            .del::<i64, _>(key)
            .await
            .map(|_| ())
            .map_err(|e| command_error("DEL", key, e))
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, RedisError> {
        self.client
            .get::<Option<String>, _>(key)
            .await
            .map_err(|e| command_error("GET", key, e))
    }

    pub async fn close(&self) {
        let _ = self.client.quit().await;
    }
}

/// Why the first connection failed; a TLS handshake's reason in words.
fn connect_failure(error: &fred::error::Error) -> String {
    match error.kind() {
        fred::error::ErrorKind::Tls => tls::describe_handshake_failure(error.details()),
        _ => error.to_string(),
    }
}

pub(crate) fn command_error(command: &'static str, key: &str, cause: fred::error::Error) -> RedisError {
    RedisError::Command {
        command,
        key: key.to_string(),
        cause: cause.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(url: &str) -> RedisOptions {
        RedisOptions {
            url: url.into(),
            ..Default::default()
        }
    }

    #[test]
    fn rediss_urls_use_tls() {
        assert!(client_config(&options("rediss://127.0.0.1:6380"))
            .unwrap()
            .tls
            .is_some());
        assert!(client_config(&options("redis://127.0.0.1:6379"))
            .unwrap()
            .tls
            .is_none());
        let with_tls = RedisOptions {
            tls: Some(RedisTls {
                reject_unauthorized: false,
                ..Default::default()
            }),
            ..options("redis://127.0.0.1:6380")
        };
        assert!(client_config(&with_tls).unwrap().tls.is_some());
    }

    #[test]
    fn credentials_beside_the_url_replace_its_own() {
        let config = client_config(&options("redis://app:url-pw@host:6379/2")).unwrap();
        assert_eq!(config.username.as_deref(), Some("app"));
        assert_eq!(config.password.as_deref(), Some("url-pw"));
        assert_eq!(config.database, Some(2));
        let config = client_config(&RedisOptions {
            username: Some("other".into()),
            password: Some("option-pw".into()),
            ..options("redis://app:url-pw@host:6379")
        })
        .unwrap();
        assert_eq!(config.username.as_deref(), Some("other"));
        assert_eq!(config.password.as_deref(), Some("option-pw"));
        // A password alone authenticates the default user, as AUTH <password> does.
        let config = client_config(&RedisOptions {
            password: Some("option-pw".into()),
            ..options("redis://host:6379")
        })
        .unwrap();
        assert_eq!(config.username, None);
        assert_eq!(config.password.as_deref(), Some("option-pw"));
    }

    #[test]
    fn a_url_of_another_scheme_is_refused_naming_the_ones_read() {
        for url in ["http://127.0.0.1:6379", "127.0.0.1:6379", "redis:/host"] {
            let error = client_config(&options(url)).map(|_| ()).unwrap_err();
            assert!(matches!(error, RedisError::Config { .. }), "{url}: {error}");
            assert!(error.to_string().contains("redis://, rediss://"), "{error}");
        }
        assert!(client_config(&options("rediss://host:6380")).is_ok());
    }

    #[test]
    fn a_user_without_a_password_is_refused() {
        let error = client_config(&RedisOptions {
            username: Some("app".into()),
            ..options("redis://host:6379")
        })
        .expect_err("refused");
        assert!(matches!(error, RedisError::Config { .. }), "{error}");
        assert!(
            error.to_string().contains("redis user 'app' has no password"),
            "{error}"
        );
    }

    #[test]
    fn tls_file_errors_come_before_connecting_and_hide_the_password() {
        let error = client_config(&RedisOptions {
            tls: Some(RedisTls {
                ca_location: Some("/nonexistent/ca.pem".into()),
                ..Default::default()
            }),
            password: Some("hunter2".into()),
            ..options("rediss://:url-hunter2@host:6380")
        })
        .expect_err("refused");
        let message = error.to_string();
        assert!(
            message.contains("redis.tls.caLocation /nonexistent/ca.pem: cannot read"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
    }
}
