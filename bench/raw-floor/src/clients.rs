//! The three clients, configured as the addon configures them (src/kafka/options.rs,
//! src/kafka/transport.rs, src/kafka/worker.rs, src/cassandra/session.rs and
//! statements.rs, src/redis/coordination.rs), minus what only the addon's guarantees
//! need: no transactions, offsets auto-committed in the background.

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::FutureProducer;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::timestamp_generator::MonotonicTimestampGenerator;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;

use crate::settings::Settings;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `KafkaOptions::client_config` with its defaults.
fn client_config(settings: &Settings) -> ClientConfig {
    let mut config = ClientConfig::new();
    let timeout = CONNECT_TIMEOUT.as_millis().to_string();
    config
        .set("bootstrap.servers", settings.brokers.join(","))
        .set("client.id", &settings.client_id)
        .set("socket.connection.setup.timeout.ms", &timeout)
        .set("message.timeout.ms", &timeout)
        .set("log_level", "3");
    config
}

/// The addon's enqueue producer: murmur2 like kafkajs, acks=all, linger 1 ms, idempotent;
/// `transactional` (a worker of the transactional floor) as the addon's worker producer.
pub fn producer(settings: &Settings, transactional: bool) -> Result<FutureProducer, BoxError> {
    let mut config = client_config(settings);
    config
        .set("partitioner", "murmur2_random")
        .set("acks", "all")
        .set("linger.ms", "1")
        .set("enable.idempotence", "true");
    if transactional {
        // As the addon's worker producer: a unique id, a short timeout.
        config
            .set("transactional.id", format!("{}-txn", settings.client_id))
            .set("transaction.timeout.ms", "15000");
    }
    Ok(config.create()?)
}

/// The addon's group consumer settings; offsets are stored on receipt and committed
/// by librdkafka in the background (the cheapest setting there is), or, transactional,
/// committed with the successors.
pub fn group_consumer(settings: &Settings) -> Result<StreamConsumer, BoxError> {
    let mut config = client_config(settings);
    config
        .set("group.id", &settings.group_id)
        .set("isolation.level", "read_committed")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "2000")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", if settings.transactional { "false" } else { "true" });
    let consumer: StreamConsumer = config.create()?;
    consumer.subscribe(&[&settings.topic])?;
    Ok(consumer)
}

/// A consumer outside any group, for the driver's completion topic.
pub fn plain_consumer(settings: &Settings) -> Result<StreamConsumer, BoxError> {
    let mut config = client_config(settings);
    config
        .set("group.id", format!("{}-driver", settings.group_id))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed");
    Ok(config.create()?)
}

/// `cassandra::session::connect` without TLS or credentials.
pub async fn cassandra(settings: &Settings) -> Result<Arc<Session>, BoxError> {
    let session = SessionBuilder::new()
        .known_nodes(&settings.contact_points)
        .connection_timeout(CONNECT_TIMEOUT)
        .timestamp_generator(Arc::new(MonotonicTimestampGenerator::new()))
        .prefer_datacenter(settings.local_data_center.clone());
    let session = tokio::time::timeout(CONNECT_TIMEOUT, session.build()).await??;
    Ok(Arc::new(session))
}

/// `statements::prepare`: LOCAL_QUORUM, marked idempotent.
pub async fn prepare(session: &Session, cql: String) -> Result<PreparedStatement, BoxError> {
    let mut statement = session.prepare(cql).await?;
    statement.set_consistency(Consistency::LocalQuorum);
    statement.set_is_idempotent(true);
    Ok(statement)
}

/// The floor's table: one row per node output, like the addon's per-key context rows.
pub async fn ensure_schema(session: &Session, keyspace: &str) -> Result<(), BoxError> {
    session
        .query_unpaged(
            format!(
                "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = \
                 {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
            ),
            &[],
        )
        .await?;
    session
        .query_unpaged(
            format!(
                "CREATE TABLE IF NOT EXISTS {keyspace}.node_outputs \
                 (run_id text, node_id text, value text, PRIMARY KEY (run_id, node_id))"
            ),
            &[],
        )
        .await?;
    Ok(())
}

/// `CoordinationClient::connect`: same reconnect policy and timeouts.
pub async fn redis(settings: &Settings) -> Result<Client, BoxError> {
    let config = Config::from_url(&settings.redis_url)?;
    let client = Builder::from_config(config)
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
        .with_connection_config(|connection| {
            connection.connection_timeout = CONNECT_TIMEOUT;
            connection.internal_command_timeout = CONNECT_TIMEOUT;
        })
        .with_performance_config(|performance| {
            performance.default_command_timeout = CONNECT_TIMEOUT;
        })
        .build()?;
    tokio::time::timeout(CONNECT_TIMEOUT, client.init()).await??;
    Ok(client)
}
