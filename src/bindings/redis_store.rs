//! `RedisCoordinationStore`: Flowcraft's `ICoordinationStore` on Redis, usable on its own
//! and by `KafkaAdapter`.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;
use tokio::sync::OnceCell;

use super::errors::spawn_coded;
use super::options::RedisConfig;
use crate::redis::{CoordinationClient, RedisError, RedisOptions};

/// Connects on first use (or on `connect()`), so constructing one never blocks. TLS files
/// are read then too: a missing or bad one rejects with ERR_REDIS_CONFIG naming it.
#[napi]
pub struct RedisCoordinationStore {
    options: RedisOptions,
    client: Arc<OnceCell<Arc<CoordinationClient>>>,
}

impl RedisCoordinationStore {
    /// Where this store connects; an adapter given this store connects there too.
    pub fn options(&self) -> &RedisOptions {
        &self.options
    }

    fn connected(
        &self,
    ) -> impl std::future::Future<Output = std::result::Result<Arc<CoordinationClient>, RedisError>> {
        let cell = Arc::clone(&self.client);
        let options = self.options.clone();
        async move {
            cell.get_or_try_init(|| async { CoordinationClient::connect(&options).await.map(Arc::new) })
                .await
                .cloned()
        }
    }
}

#[napi]
impl RedisCoordinationStore {
    #[napi(constructor)]
    pub fn new(options: Option<RedisConfig>) -> Self {
        let options = options.map(|o| o.to_options()).unwrap_or_default();
        RedisCoordinationStore {
            options,
            client: Arc::new(OnceCell::new()),
        }
    }

    /// Connects now; rejects with code ERR_REDIS_UNREACHABLE when Redis does not answer.
    #[napi]
    pub fn connect<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let client = self.connected();
        spawn_coded(env, async move { client.await.map(|_| ()) })
    }

    /// `PING`; resolves with Redis's reply.
    #[napi]
    pub fn ping<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, String>> {
        let client = self.connected();
        spawn_coded(env, async move { client.await?.ping().await })
    }

    /// INCR then EXPIRE in one transaction; resolves with the new count.
    #[napi]
    pub fn increment<'env>(
        &self,
        env: &'env Env,
        key: String,
        ttl_seconds: u32,
    ) -> Result<PromiseRaw<'env, i64>> {
        let client = self.connected();
        spawn_coded(env, async move {
            client.await?.increment(&key, ttl_seconds as i64).await
        })
    }

    /// SET key value NX EX ttl; resolves true when this call created the key.
    #[napi]
    pub fn set_if_not_exist<'env>(
        &self,
        env: &'env Env,
        key: String,
        value: String,
        ttl_seconds: u32,
    ) -> Result<PromiseRaw<'env, bool>> {
        let client = self.connected();
        spawn_coded(env, async move {
            client
                .await?
                .set_if_not_exist(&key, &value, ttl_seconds as i64)
                .await
        })
    }

    /// EXPIRE; resolves true when the key existed.
    #[napi(js_name = "extendTTL")]
    pub fn extend_ttl<'env>(
        &self,
        env: &'env Env,
        key: String,
        ttl_seconds: u32,
    ) -> Result<PromiseRaw<'env, bool>> {
        let client = self.connected();
        spawn_coded(env, async move {
            client.await?.extend_ttl(&key, ttl_seconds as i64).await
        })
    }

    #[napi]
    pub fn delete<'env>(&self, env: &'env Env, key: String) -> Result<PromiseRaw<'env, ()>> {
        let client = self.connected();
        spawn_coded(env, async move { client.await?.delete(&key).await })
    }

    /// GET; resolves `undefined` for a missing key, as Flowcraft's store does.
    #[napi(ts_return_type = "Promise<string | undefined>")]
    pub fn get<'env>(&self, env: &'env Env, key: String) -> Result<PromiseRaw<'env, Either<String, ()>>> {
        let client = self.connected();
        spawn_coded(env, async move {
            Ok::<_, RedisError>(match client.await?.get(&key).await? {
                Some(value) => Either::A(value),
                None => Either::B(()),
            })
        })
    }

    /// Closes the connection; the store can no longer be used.
    #[napi]
    pub fn close<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let cell = Arc::clone(&self.client);
        spawn_coded(env, async move {
            if let Some(client) = cell.get() {
                client.close().await;
            }
            Ok::<(), RedisError>(())
        })
    }
}
