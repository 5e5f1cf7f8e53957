//! The process's Prometheus metrics, on the `prometheus` crate (TiKV's client: typed
//! counters, gauges and bucketed histograms, the classic text format every scraper
//! reads, no global registry so two adapters in one process do not mix).
//!
//! The engine feeds them through `engine::Telemetry`; the Kafka transport through the
//! methods below; the timer service's counters are read at each scrape (`timers`).

mod bounded;
mod timers;

use std::sync::Arc;
use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::engine::telemetry::{JobOutcome, Telemetry};
use crate::kafka::SchedulerSnapshot;
use bounded::Bounded;
pub use bounded::{MAX_SERIES_PER_FAMILY, OVERFLOW_LABEL};

/// Node bodies: from a millisecond to minutes.
const NODE_DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
/// Hops: sub-millisecond on an idle worker to seconds under backlog.
const HOP_LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every family of one adapter. Cheap to share (`Arc`); recording is lock-free except
/// for the first observation of a new label set.
pub struct Metrics {
    registry: Registry,
    runs_started: IntCounter,
    runs_finished: Bounded<IntCounterVec>,
    runs_awaiting: IntGauge,
    node_duration: Bounded<HistogramVec>,
    hop_latency: Bounded<HistogramVec>,
    jobs_in_flight: IntGauge,
    jobs_handled: Bounded<IntCounterVec>,
    node_retries: IntCounter,
    node_failures: Bounded<IntCounterVec>,
    errors: Bounded<IntCounterVec>,
    dead_letters: Bounded<IntCounterVec>,
    consumer_lag: Bounded<IntGaugeVec>,
    partitions_assigned: IntGauge,
    rebalances: IntCounter,
    transactions: Bounded<IntCounterVec>,
    timers: Arc<timers::TimerFamilies>,
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::with_opts(Opts::new(name, help)).expect("a valid counter name")
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::with_opts(Opts::new(name, help)).expect("a valid gauge name")
}

fn counters(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter family")
}

fn histograms(name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    HistogramVec::new(opts, labels).expect("a valid histogram family")
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let metrics = Metrics {
            registry: Registry::new(),
            runs_started: counter("flowcraft_runs_started_total", "Runs started by this process."),
            runs_finished: Bounded::new(counters(
                "flowcraft_runs_finished_total",
                "Runs that reached a final status on this process.",
                &["blueprint", "status"],
            )),
            runs_awaiting: gauge(
                "flowcraft_runs_awaiting",
                "Runs paused on a wait by this process minus those it resumed; summed over a deployment's processes, the runs awaiting a resume.",
            ),
            node_duration: Bounded::new(histograms(
                "flowcraft_node_duration_seconds",
                "Duration of one call of a node's implementation (one attempt).",
                &["blueprint", "node"],
                NODE_DURATION_BUCKETS,
            )),
            hop_latency: Bounded::new(histograms(
                "flowcraft_hop_latency_seconds",
                "From a job's publication (its predecessor's end) to its node's start.",
                &["blueprint"],
                HOP_LATENCY_BUCKETS,
            )),
            jobs_in_flight: gauge("flowcraft_jobs_in_flight", "Jobs being handled by this worker now."),
            jobs_handled: Bounded::new(counters(
                "flowcraft_jobs_handled_total",
                "Jobs this worker finished with, by outcome (done, redelivered, duplicate_skipped, rejected).",
                &["outcome"],
            )),
            node_retries: counter(
                "flowcraft_node_retries_total",
                "Node attempts that failed and were retried.",
            ),
            node_failures: Bounded::new(counters(
                "flowcraft_node_failures_total",
                "Nodes whose last attempt failed.",
                &["blueprint", "node"],
            )),
            errors: Bounded::new(counters(
                "flowcraft_errors_total",
                "Errors met while handling jobs, by code; the job is delivered again.",
                &["code"],
            )),
            dead_letters: Bounded::new(counters(
                "flowcraft_dead_letters_total",
                "Messages sent to the error topic, by reason.",
                &["reason"],
            )),
            consumer_lag: Bounded::new(
                IntGaugeVec::new(
                    Opts::new(
                        "flowcraft_consumer_lag",
                        "Messages of an assigned partition after this worker's committed offset.",
                    ),
                    &["topic", "partition"],
                )
                .expect("a valid gauge family"),
            ),
            partitions_assigned: gauge(
                "flowcraft_partitions_assigned",
                "Jobs-topic partitions assigned to this worker.",
            ),
            rebalances: counter("flowcraft_rebalances_total", "Consumer group rebalances seen by this worker."),
            transactions: Bounded::new(counters(
                "flowcraft_transactions_total",
                "Kafka transactions of the transactional delivery mode, by result (committed, aborted).",
                &["result"],
            )),
            timers: Arc::new(timers::TimerFamilies::new()),
        };
        metrics.register_all();
        metrics
    }

    fn register_all(&self) {
        let unlabelled: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(self.runs_started.clone()),
            Box::new(self.runs_awaiting.clone()),
            Box::new(self.jobs_in_flight.clone()),
            Box::new(self.node_retries.clone()),
            Box::new(self.partitions_assigned.clone()),
            Box::new(self.rebalances.clone()),
        ];
        let labelled = [
            self.runs_finished.family(),
            self.node_duration.family(),
            self.hop_latency.family(),
            self.jobs_handled.family(),
            self.node_failures.family(),
            self.errors.family(),
            self.dead_letters.family(),
            self.consumer_lag.family(),
            self.transactions.family(),
        ];
        for collector in unlabelled.into_iter().chain(labelled) {
            self.registry
                .register(collector)
                .expect("metric names are unique");
        }
        let timers: Box<dyn prometheus::core::Collector> =
            Box::new(timers::TimerCollector(self.timers.clone()));
        self.registry
            .register(timers)
            .expect("timer metric names are unique");
    }

    /// The text exposition format (`text/plain; version=0.0.4`).
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Encoding a gathered registry only fails on a family without samples.
        let _ = TextEncoder::new().encode_utf8(&self.registry.gather(), &mut text);
        text
    }

    /// Where the timer service's counters are read at each scrape.
    pub fn watch_timers(&self, source: Arc<dyn Fn() -> Option<SchedulerSnapshot> + Send + Sync>) {
        self.timers.watch(source);
    }

    pub fn dead_lettered(&self, reason: &str) {
        self.dead_letters.with(&[reason]).inc();
    }

    pub fn rebalanced(&self) {
        self.rebalances.inc();
    }

    pub fn set_partitions_assigned(&self, count: usize) {
        self.partitions_assigned.set(count as i64);
    }

    pub fn set_consumer_lag(&self, topic: &str, partition: i32, lag: i64) {
        self.consumer_lag
            .with(&[topic, &partition.to_string()])
            .set(lag.max(0));
    }

    pub fn forget_partition(&self, topic: &str, partition: i32) {
        self.consumer_lag.remove(&[topic, &partition.to_string()]);
    }

    pub fn transaction_ended(&self, committed: bool) {
        let result = if committed { "committed" } else { "aborted" };
        self.transactions.with(&[result]).inc();
    }

    fn observe(histogram: Histogram, took: Duration) {
        histogram.observe(took.as_secs_f64());
    }
}

impl Telemetry for Metrics {
    fn run_started(&self, _blueprint_id: &str) {
        self.runs_started.inc();
    }

    fn run_finished(&self, blueprint_id: &str, status: &str) {
        self.runs_finished.with(&[blueprint_id, status]).inc();
    }

    fn runs_awaiting_changed(&self, delta: i64) {
        self.runs_awaiting.add(delta);
    }

    fn node_ran(&self, blueprint_id: &str, node_id: &str, took: Duration) {
        Self::observe(self.node_duration.with(&[blueprint_id, node_id]), took);
    }

    fn hop(&self, blueprint_id: &str, waited: Duration) {
        Self::observe(self.hop_latency.with(&[blueprint_id]), waited);
    }

    fn node_retried(&self, _blueprint_id: &str, _node_id: &str) {
        self.node_retries.inc();
    }

    fn node_failed(&self, blueprint_id: &str, node_id: &str) {
        self.node_failures.with(&[blueprint_id, node_id]).inc();
    }

    fn jobs_in_flight_changed(&self, delta: i64) {
        self.jobs_in_flight.add(delta);
    }

    fn job_handled(&self, outcome: JobOutcome) {
        self.jobs_handled.with(&[outcome.label()]).inc();
    }

    fn error(&self, code: &str) {
        self.errors.with(&[code]).inc();
    }
}

#[cfg(test)]
mod tests;
