//! `checkConnectivity()`: reach each configured service and prove a round trip.

use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;

use super::errors::spawn_coded;
use super::options::{CassandraConfig, KafkaConfig, RedisConfig};
use crate::errors::AnyCodedError;
use crate::{cassandra, kafka, redis};

#[napi(object)]
pub struct ConnectivityOptions {
    pub kafka: Option<KafkaConfig>,
    pub cassandra: Option<CassandraConfig>,
    pub redis: Option<RedisConfig>,
    /// Topic used for the produce/consume round trip (default `flowcraft-probe`).
    pub kafka_probe_topic: Option<String>,
}

#[napi(object)]
pub struct KafkaConnectivity {
    pub broker_count: u32,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub round_trip_ms: f64,
}

#[napi(object)]
pub struct CassandraConnectivity {
    pub release_version: String,
    pub connect_ms: f64,
}

#[napi(object)]
pub struct RedisConnectivity {
    pub ping: String,
    pub connect_ms: f64,
}

#[napi(object)]
pub struct ConnectivityReport {
    pub kafka: Option<KafkaConnectivity>,
    pub cassandra: Option<CassandraConnectivity>,
    pub redis: Option<RedisConnectivity>,
}

/// Checks every service given, concurrently: Kafka metadata plus a produce/consume round
/// trip, Cassandra's `release_version`, Redis `PING`. Rejects with the first failure's
/// coded error (`ERR_KAFKA_UNREACHABLE`, `ERR_CASSANDRA_UNREACHABLE`, `ERR_REDIS_UNREACHABLE`...).
#[napi]
pub fn check_connectivity<'env>(
    env: &'env Env,
    options: ConnectivityOptions,
) -> Result<PromiseRaw<'env, ConnectivityReport>> {
    let kafka_options = match options.kafka.as_ref().map(|k| k.to_options()).transpose() {
        Ok(kafka_options) => kafka_options,
        Err(error) => return Err(super::errors::coded(env, &error)),
    };
    let cassandra_options = options.cassandra.as_ref().map(|c| c.to_options());
    let redis_options = options.redis.as_ref().map(|r| r.to_options());
    let probe_topic = options
        .kafka_probe_topic
        .unwrap_or_else(|| "flowcraft-probe".into());
    spawn_coded(env, async move {
        let kafka_check = async {
            let Some(options) = kafka_options else {
                return Ok(None);
            };
            let cluster = kafka::probe::check_reachable(&options).await?;
            let trip = kafka::probe::round_trip(&options, &probe_topic).await?;
            Ok::<_, AnyCodedError>(Some(KafkaConnectivity {
                broker_count: cluster.broker_count as u32,
                topic: trip.topic,
                partition: trip.partition,
                offset: trip.offset,
                round_trip_ms: trip.elapsed.as_secs_f64() * 1000.0,
            }))
        };
        let cassandra_check = async {
            let Some(options) = cassandra_options else {
                return Ok(None);
            };
            let started = std::time::Instant::now();
            let session = cassandra::session::connect(&options).await?;
            let connect_ms = started.elapsed().as_secs_f64() * 1000.0;
            let release_version = cassandra::session::release_version(&session).await?;
            Ok::<_, AnyCodedError>(Some(CassandraConnectivity {
                release_version,
                connect_ms,
            }))
        };
        let redis_check = async {
            let Some(options) = redis_options else {
                return Ok(None);
            };
            let started = std::time::Instant::now();
            let client = redis::CoordinationClient::connect(&options).await?;
            let connect_ms = started.elapsed().as_secs_f64() * 1000.0;
            let ping = client.ping().await?;
            client.close().await;
            Ok::<_, AnyCodedError>(Some(RedisConnectivity { ping, connect_ms }))
        };
        let (kafka, cassandra, redis) = tokio::join!(kafka_check, cassandra_check, redis_check);
        Ok::<_, AnyCodedError>(ConnectivityReport {
            kafka: kafka?,
            cassandra: cassandra?,
            redis: redis?,
        })
    })
}
