use super::*;

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn unlabelled_families_start_at_zero_and_labelled_ones_appear_when_fed() {
    let metrics = Metrics::new();
    let text = metrics.render();
    assert_eq!(sample(&text, "flowcraft_runs_started_total"), Some(0.0));
    assert_eq!(sample(&text, "flowcraft_jobs_in_flight"), Some(0.0));
    assert!(!text.contains("flowcraft_node_failures_total"), "{text}");
    assert!(
        !text.contains("kafka_scheduler_event_total"),
        "no timer service yet"
    );

    metrics.run_started("bp");
    metrics.node_failed("bp", "n1");
    metrics.job_handled(JobOutcome::DuplicateSkipped);
    metrics.node_ran("bp", "n1", Duration::from_millis(3));
    let text = metrics.render();
    assert_eq!(sample(&text, "flowcraft_runs_started_total"), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "flowcraft_node_failures_total{blueprint=\"bp\",node=\"n1\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "flowcraft_jobs_handled_total{outcome=\"duplicate_skipped\"}"
        ),
        Some(1.0)
    );
    // A histogram with buckets: 3 ms is above the 2.5 ms bucket and within the 5 ms one.
    let bucket = |le: &str| {
        sample(
            &text,
            &format!("flowcraft_node_duration_seconds_bucket{{blueprint=\"bp\",node=\"n1\",le=\"{le}\"}}"),
        )
    };
    assert_eq!(bucket("0.0025"), Some(0.0));
    assert_eq!(bucket("0.005"), Some(1.0));
    assert_eq!(bucket("+Inf"), Some(1.0));
    assert!(
        text.contains("# TYPE flowcraft_node_duration_seconds histogram"),
        "{text}"
    );
}

#[test]
fn timer_counters_are_read_at_each_scrape_under_both_names() {
    let metrics = Metrics::new();
    let fired = Arc::new(std::sync::atomic::AtomicU64::new(2));
    let read = fired.clone();
    metrics.watch_timers(Arc::new(move || {
        Some(SchedulerSnapshot {
            planned: 5,
            fired: read.load(std::sync::atomic::Ordering::Relaxed),
            late: 1,
            pending: 3,
            ..Default::default()
        })
    }));
    let text = metrics.render();
    assert_eq!(sample(&text, "flowcraft_timers_fired_total"), Some(2.0));
    assert_eq!(sample(&text, "flowcraft_timers_pending"), Some(3.0));
    assert_eq!(
        sample(&text, "kafka_scheduler_event_total{event=\"triggered\"}"),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "kafka_scheduler_event_total{event=\"missed\"}"),
        Some(1.0)
    );
    fired.store(7, std::sync::atomic::Ordering::Relaxed);
    let text = metrics.render();
    assert_eq!(sample(&text, "flowcraft_timers_fired_total"), Some(7.0));
    assert_eq!(
        sample(&text, "kafka_scheduler_event_total{event=\"planned\"}"),
        Some(5.0)
    );
}

#[test]
fn a_revoked_partition_leaves_the_lag_family() {
    let metrics = Metrics::new();
    metrics.set_consumer_lag("jobs", 0, 12);
    metrics.set_consumer_lag("jobs", 1, -1);
    let text = metrics.render();
    assert_eq!(
        sample(&text, "flowcraft_consumer_lag{partition=\"0\",topic=\"jobs\"}"),
        Some(12.0)
    );
    assert_eq!(
        sample(&text, "flowcraft_consumer_lag{partition=\"1\",topic=\"jobs\"}"),
        Some(0.0)
    );
    metrics.forget_partition("jobs", 0);
    assert!(!metrics.render().contains("partition=\"0\""));
}
