//! The distributed setup: jobs on Kafka, state in Cassandra, coordination in Redis.

use std::sync::Arc;

use super::announced_status::AnnouncedStatusStore;
use super::slots::Slot;
use crate::cassandra::{ActiveRun, CassandraOptions, CassandraStatusStore, CassandraStores, TableNames};
use crate::engine::evaluator::Evaluator;
use crate::engine::events::EventSink;
use crate::engine::traits::{ContextStore, CoordinationStore, JobTransport, StatusStore, Timer};
use crate::engine::EngineBackends;
use crate::errors::AnyCodedError;
use crate::kafka::{
    KafkaJobTransport, KafkaOptions, KafkaTimer, KafkaTransportOptions, ResultsFeed, SchedulerOptions,
    SchedulerService, SchedulerSnapshot,
};
use crate::memory::clock::SystemClock;
use crate::redis::{CoordinationSettings, RedisCoordination, RedisOptions};

/// Everything needed to connect, checked before any connection is made.
#[derive(Clone)]
pub struct DistributedSettings {
    pub kafka: KafkaOptions,
    pub transport: KafkaTransportOptions,
    /// The durable timer service (run by workers; clients only write schedules).
    pub scheduler: SchedulerOptions,
    pub cassandra: CassandraOptions,
    pub tables: TableNames,
    pub ensure_schema: bool,
    pub redis: RedisOptions,
    pub coordination: CoordinationSettings,
    /// false: a client that starts and awaits runs but consumes no jobs.
    pub worker: bool,
    /// Where every published result is announced (`waitForRun` on any process).
    pub results_topic: String,
}

/// The engine's backends as slots, filled by `connect`.
pub struct DistributedBackends {
    transport: Arc<Slot<dyn JobTransport>>,
    context: Arc<Slot<dyn ContextStore>>,
    status: Arc<Slot<dyn StatusStore>>,
    coordination: Arc<Slot<dyn CoordinationStore>>,
    timer: Arc<Slot<dyn Timer>>,
    connected: std::sync::Mutex<Option<Connected>>,
}

struct Connected {
    transport: Arc<KafkaJobTransport>,
    status: Arc<CassandraStatusStore>,
    scheduler: Option<Arc<SchedulerService>>,
    results: Arc<ResultsFeed>,
    coordination: Arc<RedisCoordination>,
}

impl DistributedBackends {
    pub fn new() -> Self {
        DistributedBackends {
            transport: Slot::new("Kafka job transport"),
            context: Slot::new("Cassandra context store"),
            status: Slot::new("Cassandra status store"),
            coordination: Slot::new("Redis coordination store"),
            timer: Slot::new("timer"),
            connected: std::sync::Mutex::new(None),
        }
    }

    pub fn engine_backends(
        &self,
        events: Arc<dyn EventSink>,
        evaluator: Arc<dyn Evaluator>,
    ) -> EngineBackends {
        EngineBackends {
            transport: self.transport.clone(),
            context: self.context.clone(),
            status: self.status.clone(),
            coordination: self.coordination.clone(),
            timer: self.timer.clone(),
            events,
            telemetry: Arc::new(crate::engine::NoTelemetry),
            logger: crate::engine::Logger::default(),
            clock: Arc::new(SystemClock),
            evaluator,
        }
    }

    /// Connects to all three services at once; the first failure is returned with its
    /// code (ERR_KAFKA_UNREACHABLE, ERR_CASSANDRA_UNREACHABLE, ERR_REDIS_UNREACHABLE...).
    pub async fn connect(&self, settings: &DistributedSettings) -> Result<(), AnyCodedError> {
        let kafka = async {
            let transport = if settings.worker {
                KafkaJobTransport::worker(settings.kafka.clone(), settings.transport.clone()).await
            } else {
                KafkaJobTransport::producer_only(settings.kafka.clone(), settings.transport.clone()).await
            };
            let transport = Arc::new(transport.map_err(AnyCodedError::from)?);
            let timers = async {
                let timer =
                    KafkaTimer::new(&settings.kafka, transport.clone(), &settings.scheduler.topic).await?;
                let results =
                    ResultsFeed::start(&settings.kafka, transport.clone(), &settings.results_topic).await?;
                let scheduler = match settings.worker {
                    true => Some(Arc::new(
                        SchedulerService::start(settings.kafka.clone(), settings.scheduler.clone()).await?,
                    )),
                    false => None,
                };
                Ok::<_, crate::kafka::KafkaError>((Arc::new(timer), scheduler, Arc::new(results)))
            };
            match timers.await {
                Ok((timer, scheduler, results)) => Ok((transport, timer, scheduler, results)),
                Err(error) => {
                    let _ = transport.close().await;
                    Err(AnyCodedError::from(error))
                }
            }
        };
        let cassandra = async {
            CassandraStores::connect(
                &settings.cassandra,
                settings.tables.clone(),
                settings.ensure_schema,
            )
            .await
            .map_err(AnyCodedError::from)
        };
        let redis = async {
            RedisCoordination::connect(&settings.redis, settings.coordination)
                .await
                .map(Arc::new)
                .map_err(AnyCodedError::from)
        };
        let (transport, stores, coordination) = tokio::join!(kafka, cassandra, redis);
        // Close whatever did connect before reporting the failure.
        if transport.is_err() || stores.is_err() || coordination.is_err() {
            if let Ok((transport, _, scheduler, results)) = &transport {
                results.close();
                if let Some(scheduler) = scheduler {
                    scheduler.close().await;
                }
                let _ = transport.close().await;
            }
            if let Ok(coordination) = &coordination {
                coordination.connection().close().await;
            }
            return Err(first_error(transport.err(), stores.err(), coordination.err()));
        }
        let ((transport, timer, scheduler, results), stores, coordination) =
            (transport?, stores?, coordination?);
        self.transport.fill(transport.clone());
        self.context.fill(stores.context.clone());
        self.status.fill(Arc::new(AnnouncedStatusStore::new(
            stores.status.clone(),
            results.clone(),
            settings.kafka.logger.clone(),
        )));
        self.coordination.fill(coordination.clone());
        self.timer.fill(timer.clone());
        if let Ok(mut connected) = self.connected.lock() {
            *connected = Some(Connected {
                transport,
                status: stores.status.clone(),
                scheduler,
                results,
                coordination,
            });
        }
        Ok(())
    }

    /// The jobs-topic partitions this worker consumes now (empty before start or after stop).
    pub fn assigned_partitions(&self) -> Vec<i32> {
        self.connected
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.transport.assigned_partitions()))
            .unwrap_or_default()
    }

    /// The Cassandra status store, once connected (the reconciler lists active runs there).
    pub fn status_store(&self) -> Option<Arc<CassandraStatusStore>> {
        let connected = self.connected.lock().ok()?;
        connected.as_ref().map(|c| c.status.clone())
    }

    /// Runs without a final result last started or resumed before `before_ms`.
    pub async fn active_runs(&self, before_ms: u64) -> Result<Vec<ActiveRun>, AnyCodedError> {
        let status = self.status_store().ok_or_else(not_started)?;
        Ok(status.active_runs(Some(before_ms)).await?)
    }

    /// The timer service's counters (`None` before start, after stop, or on a client).
    pub fn timer_metrics(&self) -> Option<SchedulerSnapshot> {
        let connected = self.connected.lock().ok()?;
        connected.as_ref()?.scheduler.as_ref().map(|s| s.metrics())
    }

    /// Closes the clients in order (timer, transport with its final commit, Redis) and
    /// empties the slots. Call after the engine stopped.
    pub async fn close(&self) -> Result<(), AnyCodedError> {
        let connected = self.connected.lock().ok().and_then(|mut c| c.take());
        self.transport.clear();
        self.context.clear();
        self.status.clear();
        self.coordination.clear();
        self.timer.clear();
        if let Some(connected) = connected {
            if let Some(scheduler) = &connected.scheduler {
                scheduler.close().await;
            }
            connected.results.close();
            let closed = connected.transport.close().await;
            connected.coordination.connection().close().await;
            closed?;
        }
        Ok(())
    }
}

impl Default for DistributedBackends {
    fn default() -> Self {
        Self::new()
    }
}

fn first_error(
    kafka: Option<AnyCodedError>,
    cassandra: Option<AnyCodedError>,
    redis: Option<AnyCodedError>,
) -> AnyCodedError {
    kafka.or(cassandra).or(redis).unwrap_or_else(|| {
        AnyCodedError::from(crate::kafka::KafkaError::Config {
            reason: "connection failed".into(),
        })
    })
}

fn not_started() -> AnyCodedError {
    AnyCodedError(Box::new(crate::errors::NotStarted))
}
