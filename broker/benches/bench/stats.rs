//! Medians and percentiles of raw samples, and the formatting of the figures.
//!
//! Every figure the bench prints is a median over many samples (and a p99 where it is a
//! latency), never a mean: on a shared 2-vCPU VM the mean is dominated by a few
//! scheduler hiccups, and the median is what a client sees most of the time.

use std::time::Duration;

/// The distribution of a set of samples (nanoseconds, or any other unit).
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// How many samples.
    pub n: usize,
    pub median: f64,
    pub p99: f64,
    pub max: f64,
}

/// Summarizes `samples` (sorted in place). Panics on an empty set: a row without samples
/// is a bug in the bench, never a figure.
pub fn summarize(samples: &mut [u64]) -> Summary {
    assert!(!samples.is_empty(), "no samples to summarize");
    samples.sort_unstable();
    Summary {
        n: samples.len(),
        median: median_sorted(samples),
        p99: percentile_sorted(samples, 99.0),
        max: samples[samples.len() - 1] as f64,
    }
}

/// The samples of one row gathered over several rounds (the contenders of a comparison
/// take turns round by round). Its median is the median of the rounds' medians: a burst of
/// noise from another VM during one round moves that round's median, not the figure. The
/// p99 and the maximum are those of all the samples pooled.
#[derive(Debug, Default)]
pub struct Rounds {
    medians: Vec<f64>,
    all: Vec<u64>,
}

impl Rounds {
    /// Adds one round's samples.
    pub fn add(&mut self, mut round: Vec<u64>) {
        let s = summarize(&mut round);
        self.medians.push(s.median);
        self.all.extend(round);
    }

    /// The row's figures. Panics without samples, as [`summarize`] does.
    pub fn summary(&mut self) -> Summary {
        let pooled = summarize(&mut self.all);
        Summary {
            median: median_f64(&self.medians),
            ..pooled
        }
    }
}

/// The median of already sorted samples (the mean of the two middle ones for an even count).
fn median_sorted(sorted: &[u64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2] as f64
    } else {
        (sorted[n / 2 - 1] as f64 + sorted[n / 2] as f64) / 2.0
    }
}

/// The nearest-rank percentile `p` (0 < p <= 100) of already sorted samples.
fn percentile_sorted(sorted: &[u64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

/// The median of a few floating-point figures (rounds of a throughput run).
pub fn median_f64(values: &[f64]) -> f64 {
    assert!(!values.is_empty(), "no values");
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A duration in nanoseconds, as `812 ns`, `10.3 µs`, `4.21 ms` or `1.20 s`.
pub fn fmt_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 100_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1_000_000.0 {
        format!("{:.0} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// A rate, as `19.5 k/s`.
pub fn fmt_rate(per_s: f64) -> String {
    if per_s >= 1e6 {
        format!("{:.2} M/s", per_s / 1e6)
    } else {
        format!("{:.1} k/s", per_s / 1e3)
    }
}

/// A size in bytes, as `12.3 MiB`.
pub fn fmt_bytes(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

/// A ratio, as `1.18×`.
pub fn fmt_ratio(r: f64) -> String {
    format!("{r:.2}×")
}

/// Nanoseconds in a duration, saturating (a sample never comes near 584 years).
pub fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
