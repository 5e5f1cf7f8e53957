//! The timer service's counters, read from its snapshot at each scrape: under our
//! names (`flowcraft_timers_*`) and under kafka-message-scheduler's
//! `kafka_scheduler_event_total{event}`, so its dashboards work unchanged.

use std::sync::{Arc, Mutex};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};

use crate::kafka::SchedulerSnapshot;

type SnapshotSource = Arc<dyn Fn() -> Option<SchedulerSnapshot> + Send + Sync>;
/// Which of the snapshot's numbers a family shows.
type Reading = fn(&SchedulerSnapshot) -> u64;

pub struct TimerFamilies {
    source: Mutex<Option<SnapshotSource>>,
    counters: Vec<(IntCounter, Reading)>,
    gauges: Vec<(IntGauge, Reading)>,
    /// kms's event names: planned, triggered, deleted, invalid, missed.
    kms_events: IntCounterVec,
    /// Scrapes reset and refill the counters: one at a time.
    scrape: Mutex<()>,
}

fn timer_counter(name: &str, help: &str) -> IntCounter {
    IntCounter::with_opts(Opts::new(name, help)).expect("a valid counter name")
}

fn timer_gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::with_opts(Opts::new(name, help)).expect("a valid gauge name")
}

/// kms's event name and the snapshot counter that means it.
const KMS_EVENTS: [(&str, Reading); 5] = [
    ("planned", |s| s.planned),
    ("triggered", |s| s.fired),
    ("deleted", |s| s.cancelled),
    ("invalid", |s| s.invalid),
    ("missed", |s| s.late),
];

impl TimerFamilies {
    pub fn new() -> Self {
        let counters: Vec<(IntCounter, Reading)> = vec![
            (
                timer_counter(
                    "flowcraft_timers_planned_total",
                    "Valid schedules read (new or replacing).",
                ),
                |s| s.planned,
            ),
            (
                timer_counter(
                    "flowcraft_timers_replaced_total",
                    "Schedules that replaced a pending one.",
                ),
                |s| s.replaced,
            ),
            (
                timer_counter(
                    "flowcraft_timers_fired_total",
                    "Schedules delivered to their target.",
                ),
                |s| s.fired,
            ),
            (
                timer_counter(
                    "flowcraft_timers_late_total",
                    "Schedules delivered after due time plus grace.",
                ),
                |s| s.late,
            ),
            (
                timer_counter(
                    "flowcraft_timers_invalid_total",
                    "Messages that are not valid schedules.",
                ),
                |s| s.invalid,
            ),
            (
                timer_counter(
                    "flowcraft_timers_cancelled_total",
                    "Pending schedules cancelled by a tombstone.",
                ),
                |s| s.cancelled,
            ),
            (
                timer_counter(
                    "flowcraft_timers_fire_errors_total",
                    "Fire attempts that failed and were retried.",
                ),
                |s| s.fire_errors,
            ),
        ];
        let gauges: Vec<(IntGauge, Reading)> = vec![
            (
                timer_gauge("flowcraft_timers_pending", "Timers waiting on this worker."),
                |s| s.pending,
            ),
            (
                timer_gauge("flowcraft_timer_partitions", "Schedules-topic partitions owned."),
                |s| s.partitions,
            ),
            (
                timer_gauge(
                    "flowcraft_timer_partitions_loading",
                    "Owned partitions still being read.",
                ),
                |s| s.loading_partitions,
            ),
        ];
        let kms_events = IntCounterVec::new(
            Opts::new(
                "kafka_scheduler_event_total",
                "Timer events under kafka-message-scheduler's names (planned, triggered, deleted, invalid, missed).",
            ),
            &["event"],
        )
        .expect("a valid counter family");
        TimerFamilies {
            source: Mutex::new(None),
            counters,
            gauges,
            kms_events,
            scrape: Mutex::new(()),
        }
    }

    pub fn watch(&self, source: SnapshotSource) {
        if let Ok(mut slot) = self.source.lock() {
            *slot = Some(source);
        }
    }

    fn snapshot(&self) -> Option<SchedulerSnapshot> {
        let source = self.source.lock().ok()?.clone()?;
        source()
    }
}

/// Registered once per registry; reads the snapshot when scraped.
pub struct TimerCollector(pub Arc<TimerFamilies>);

impl Collector for TimerCollector {
    fn desc(&self) -> Vec<&Desc> {
        let families = &self.0;
        let counters = families.counters.iter().flat_map(|(c, _)| c.desc());
        let gauges = families.gauges.iter().flat_map(|(g, _)| g.desc());
        counters.chain(gauges).chain(families.kms_events.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        // A process without the timer service (a client) has none of these families.
        let Some(snapshot) = self.0.snapshot() else {
            return Vec::new();
        };
        let families = &self.0;
        let _one_at_a_time = families.scrape.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for (counter, read) in &families.counters {
            // A counter mirrors the service's own; resetting first keeps it exact.
            counter.reset();
            counter.inc_by(read(&snapshot));
            out.extend(counter.collect());
        }
        for (gauge, read) in &families.gauges {
            gauge.set(read(&snapshot) as i64);
            out.extend(gauge.collect());
        }
        for (event, read) in KMS_EVENTS {
            let counter = families.kms_events.with_label_values(&[event]);
            counter.reset();
            counter.inc_by(read(&snapshot));
        }
        out.extend(families.kms_events.collect());
        out
    }
}
