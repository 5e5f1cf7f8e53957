//! Labelled families with a bounded number of series. Label values come from blueprint
//! and node ids, error codes and partitions, all bounded by what a deployment registers;
//! the bound is a safety net so that no input can make a scrape grow without end.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::RwLock;

use prometheus::core::Collector;
use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec};

/// Series per family beyond which new label sets are counted under `OVERFLOW_LABEL`.
pub const MAX_SERIES_PER_FAMILY: usize = 2_000;
pub const OVERFLOW_LABEL: &str = "_other";

/// A labelled family of the `prometheus` crate.
pub trait Family: Collector + Clone + 'static {
    type Series: Clone;
    fn series(&self, labels: &[&str]) -> Self::Series;
    fn drop_series(&self, labels: &[&str]);
}

macro_rules! family {
    ($($vec:ty => $series:ty),*) => {$(
        impl Family for $vec {
            type Series = $series;
            fn series(&self, labels: &[&str]) -> $series {
                self.with_label_values(labels)
            }
            fn drop_series(&self, labels: &[&str]) {
                let _ = self.remove_label_values(labels);
            }
        }
    )*};
}

family!(IntCounterVec => IntCounter, IntGaugeVec => IntGauge, HistogramVec => Histogram);

/// A series handle with its label values.
type Labelled<S> = (Vec<String>, S);

/// A family whose series handles are cached by label values, at most
/// `MAX_SERIES_PER_FAMILY` of them.
pub struct Bounded<F: Family> {
    family: F,
    /// By a hash of the label values (no allocation per observation), with the values.
    series: RwLock<HashMap<u64, Labelled<F::Series>>>,
}

impl<F: Family> Bounded<F> {
    pub fn new(family: F) -> Self {
        Bounded {
            family,
            series: RwLock::new(HashMap::new()),
        }
    }

    pub fn family(&self) -> Box<dyn Collector> {
        Box::new(self.family.clone())
    }

    /// The series for `labels` (in the family's label order).
    pub fn with(&self, labels: &[&str]) -> F::Series {
        let hash = hash_of(labels);
        if let Ok(series) = self.series.read() {
            if let Some((_, found)) = series.get(&hash) {
                return found.clone();
            }
        }
        let mut series = self.series.write().unwrap_or_else(|p| p.into_inner());
        if let Some((_, found)) = series.get(&hash) {
            return found.clone();
        }
        let (hash, key): (u64, Vec<String>) = if series.len() < MAX_SERIES_PER_FAMILY {
            (hash, labels.iter().map(|l| l.to_string()).collect())
        } else {
            let overflow = vec![OVERFLOW_LABEL; labels.len()];
            (
                hash_of(&overflow),
                overflow.iter().map(|l| l.to_string()).collect(),
            )
        };
        let entry = series.entry(hash).or_insert_with(|| {
            let values: Vec<&str> = key.iter().map(String::as_str).collect();
            let metric = self.family.series(&values);
            (key, metric)
        });
        entry.1.clone()
    }

    /// Drops the series for `labels` (a partition no longer assigned).
    pub fn remove(&self, labels: &[&str]) {
        let mut series = self.series.write().unwrap_or_else(|p| p.into_inner());
        if series.remove(&hash_of(labels)).is_some() {
            self.family.drop_series(labels);
        }
    }

    /// The label sets present now.
    #[cfg(test)]
    pub fn labels(&self) -> Vec<Vec<String>> {
        let series = self.series.read().unwrap_or_else(|p| p.into_inner());
        series.values().map(|(key, _)| key.clone()).collect()
    }
}

fn hash_of(labels: &[&str]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for label in labels {
        label.hash(&mut hasher);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{IntCounterVec, Opts};

    #[test]
    fn label_sets_past_the_bound_share_one_overflow_series() {
        let family = IntCounterVec::new(Opts::new("t_total", "t"), &["node"]).unwrap();
        let bounded = Bounded::new(family.clone());
        for i in 0..MAX_SERIES_PER_FAMILY + 10 {
            bounded.with(&[&format!("n{i}")]).inc();
        }
        bounded.with(&["n0"]).inc();
        assert_eq!(family.with_label_values(&["n0"]).get(), 2);
        assert_eq!(family.with_label_values(&[OVERFLOW_LABEL]).get(), 10);
        assert_eq!(bounded.labels().len(), MAX_SERIES_PER_FAMILY + 1);
    }
}
