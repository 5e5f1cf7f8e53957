//! The coordination commands, with Flowcraft's `ICoordinationStore` meaning. Every write
//! carries a TTL so nothing outlives its run by accident.

use fred::prelude::*;
use fred::types::{Expiration, SetOptions};

use super::{RedisError, RedisOptions};

pub struct CoordinationClient {
    client: Client,
}

impl CoordinationClient {
    /// Connects within `options.connect_timeout`, or fails with `Unreachable`.
    pub async fn connect(options: &RedisOptions) -> Result<Self, RedisError> {
        let config = Config::from_url(&options.url).map_err(|e| RedisError::Config {
            reason: format!("redis url {}: {e}", options.redacted_url()),
        })?;
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
                Err(unreachable(e.to_string()))
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

pub(crate) fn command_error(command: &'static str, key: &str, cause: fred::error::Error) -> RedisError {
    RedisError::Command {
        command,
        key: key.to_string(),
        cause: cause.to_string(),
    }
}
