//! `KafkaAdapter` options: read from the JS object, checked all at once.

use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;

use super::options::{CassandraConfig, KafkaConfig, RedisConfig};
use super::redis_store::RedisCoordinationStore;
use crate::adapter::distributed::DistributedSettings;
use crate::cassandra::TableNames;
use crate::kafka::signing::JobSigner;
use crate::kafka::topics::check_kafka_name;
use crate::kafka::transport_options::DeliveryMode;
use crate::kafka::{KafkaTransportOptions, SchedulerOptions, DEFAULT_RESULTS_TOPIC};
use crate::redis::CoordinationSettings;

/// Reads every option; `problems` collects what is wrong (the adapter reports them all).
pub fn read_distributed_settings(
    options: &Object,
    problems: &mut Vec<String>,
) -> Result<Option<DistributedSettings>> {
    let kafka = match options.get::<KafkaConfig>("kafka") {
        Ok(Some(kafka)) => match kafka.to_options() {
            Ok(kafka) => Some(kafka),
            Err(error) => {
                problems.push(error.to_string());
                None
            }
        },
        Ok(None) => {
            problems.push("kafka is missing: pass { brokers: ['host:port'] }".into());
            None
        }
        Err(error) => {
            problems.push(format!("kafka: {}", error.reason));
            None
        }
    };
    let cassandra = match options.get::<CassandraConfig>("cassandra") {
        Ok(Some(cassandra)) => {
            let cassandra = cassandra.to_options();
            if let Err(error) = cassandra.validate() {
                problems.push(error.to_string());
            }
            Some(cassandra)
        }
        Ok(None) => {
            problems
                .push("cassandra is missing: pass { contactPoints: ['host:port'], localDataCenter }".into());
            None
        }
        Err(error) => {
            problems.push(format!("cassandra: {}", error.reason));
            None
        }
    };
    let redis = read_coordination_store(options, problems)?;
    let text = |name: &str, default: &str| -> Result<String> {
        Ok(options
            .get::<String>(name)?
            .unwrap_or_else(|| default.to_string()))
    };
    let tables = TableNames::new(
        &text("keyspace", TableNames::DEFAULT_KEYSPACE)?,
        &text("contextTableName", "flowcraft_contexts")?,
        &text("statusTableName", "flowcraft_statuses")?,
    )
    .map_err(|e| problems.push(e.to_string()))
    .ok();
    let defaults = KafkaTransportOptions::default();
    let mut transport = KafkaTransportOptions {
        topic: text("topicName", &defaults.topic)?,
        group_id: text("groupId", &defaults.group_id)?,
        error_topic: text("errorTopic", &defaults.error_topic)?,
        ..defaults
    };
    if let Some(n) = whole_number(options, "batchMaxN", 1.0, 100_000.0, problems)? {
        transport.batch_max_n = n as usize;
    }
    if let Some(ms) = whole_number(options, "batchMaxMs", 0.0, 3_600_000.0, problems)? {
        transport.batch_max_ms = ms as u64;
    }
    if let Some(partitions) = whole_number(options, "partitions", 1.0, 10_000.0, problems)? {
        transport.partitions = partitions as i32;
    }
    if let Some(bytes) = whole_number(options, "maxMessageBytes", 1024.0, 1_073_741_824.0, problems)? {
        transport.max_message_bytes = bytes as usize;
    }
    if let Some(grace) = whole_number(options, "shutdownGraceMs", 0.0, 3_600_000.0, problems)? {
        transport.close_grace = Duration::from_millis(grace as u64);
    }
    if let Some(mode) = options.get::<String>("delivery")? {
        match DeliveryMode::parse(&mode) {
            Some(mode) => transport.delivery = mode,
            None => problems.push(format!(
                "delivery = '{mode}' is not a delivery mode: use 'at-least-once' (the default) or 'transactional'"
            )),
        }
    }
    if let Some(id) = options.get::<String>("transactionalId")? {
        transport.transactional_id = Some(id);
    }
    if let Some(key) = options.get::<String>("jobSigningKey")? {
        match JobSigner::new(key.as_bytes()) {
            Ok(signer) => transport.job_signer = Some(Arc::new(signer)),
            Err(problem) => problems.push(problem),
        }
    }
    if let Err(error) = transport.validate() {
        problems.push(error.to_string());
    }
    let mut scheduler =
        SchedulerOptions::for_topic(&text("schedulesTopic", SchedulerOptions::DEFAULT_TOPIC)?);
    scheduler.history_topic = text("schedulesHistoryTopic", SchedulerOptions::DEFAULT_HISTORY_TOPIC)?;
    scheduler.partitions = transport.partitions;
    scheduler.transactional_id = transport
        .transactional_id
        .as_ref()
        .map(|id| format!("{id}-timers"));
    if let Some(grace) = whole_number(options, "timerGraceMs", 0.0, 86_400_000.0, problems)? {
        scheduler.grace = Duration::from_millis(grace as u64);
    }
    if let Err(error) = scheduler.validate() {
        problems.push(error.to_string());
    }
    if [&scheduler.topic, &scheduler.history_topic]
        .iter()
        .any(|t| **t == transport.topic || **t == transport.error_topic)
    {
        problems.push(
            "schedulesTopic and schedulesHistoryTopic must differ from topicName and errorTopic".into(),
        );
    }
    let results_topic = text("resultsTopic", DEFAULT_RESULTS_TOPIC)?;
    let taken = [
        &transport.topic,
        &transport.error_topic,
        &scheduler.topic,
        &scheduler.history_topic,
    ];
    if let Err(error) = check_kafka_name("resultsTopic", &results_topic) {
        problems.push(error.to_string());
    } else if taken.contains(&&results_topic) {
        problems.push(format!(
            "resultsTopic = '{results_topic}' is already used as another topic of this adapter: give it its own"
        ));
    }
    let mut coordination = CoordinationSettings::default();
    if let Some(seconds) = whole_number(options, "keyTtlSeconds", 1.0, 31_536_000.0, problems)? {
        coordination.key_ttl = Duration::from_secs(seconds as u64);
    }
    let ensure_schema = options.get::<bool>("ensureSchema")?.unwrap_or(false);
    let worker = options.get::<bool>("worker")?.unwrap_or(true);
    Ok(match (kafka, cassandra, redis, tables) {
        (Some(kafka), Some(cassandra), Some(redis), Some(tables)) => Some(DistributedSettings {
            kafka,
            transport,
            scheduler,
            cassandra,
            tables,
            ensure_schema,
            redis,
            coordination,
            worker,
            results_topic,
        }),
        _ => None,
    })
}

/// `coordinationStore`: a `RedisCoordinationStore`, or its options (`{ url }`).
fn read_coordination_store(
    options: &Object,
    problems: &mut Vec<String>,
) -> Result<Option<crate::redis::RedisOptions>> {
    let Some(value) = options.get::<Unknown>("coordinationStore")? else {
        problems.push("coordinationStore is missing: pass a RedisCoordinationStore".into());
        return Ok(None);
    };
    if let Ok(store) = ClassInstance::<RedisCoordinationStore>::from_unknown(value) {
        return Ok(Some(store.options().clone()));
    }
    match RedisConfig::from_unknown(value) {
        Ok(config) => Ok(Some(config.to_options())),
        Err(error) => {
            problems.push(format!(
                "coordinationStore must be a RedisCoordinationStore or its options ({{ url, tls?, username?, password? }}): {}",
                error.reason
            ));
            Ok(None)
        }
    }
}

fn whole_number(
    options: &Object,
    name: &str,
    min: f64,
    max: f64,
    problems: &mut Vec<String>,
) -> Result<Option<f64>> {
    let Some(value) = options.get::<f64>(name)? else {
        return Ok(None);
    };
    if value.fract() != 0.0 || value < min || value > max {
        problems.push(format!(
            "{name} = {value}: expected a whole number from {min} to {max}"
        ));
        return Ok(None);
    }
    Ok(Some(value))
}
