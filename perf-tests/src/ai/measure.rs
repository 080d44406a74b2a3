//! Readings around a load: a process's CPU (user and system, from
//! `/proc/PID/stat`, and schedstat nanoseconds) and RSS, and the
//! percentiles of a latency histogram. Reading them costs about 20 µs.

use hdrhistogram::Histogram;

use crate::procfs::{self, CpuSample};

/// CPU of one process between two moments.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    /// User time, µs.
    pub user_us: f64,
    /// System time, µs.
    pub sys_us: f64,
    /// On-CPU time from schedstat, µs.
    pub sched_us: f64,
}

// === impl Cpu ===

impl Cpu {
    /// The CPU `pid` spent between `before` and now.
    pub fn since(pid: u32, before: &CpuSample) -> Self {
        let after = CpuSample::of(&[pid]);
        let user = after.user_micros_since(before);
        Self {
            user_us: user,
            sys_us: after.micros_since(before) - user,
            sched_us: after.sched_micros_since(before),
        }
    }

    /// `user / sys / total (schedstat)` µs per unit, for `units` units.
    pub fn per(&self, units: u64) -> String {
        let n = units.max(1) as f64;
        format!(
            "{:.3} / {:.3} / {:.3}",
            self.user_us / n,
            self.sys_us / n,
            self.sched_us / n
        )
    }

    /// Busy fraction over `secs` seconds of wall time (schedstat).
    pub fn busy(&self, secs: f64) -> f64 {
        self.sched_us / 1e6 / secs.max(1e-9)
    }
}

/// Now's CPU counters of `pid`.
pub fn cpu_now(pid: u32) -> CpuSample {
    CpuSample::of(&[pid])
}

/// VmRSS of `pid`, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    procfs::status_kb(pid, "VmRSS").unwrap_or(0)
}

/// p50, p99 and p99.9 of a nanosecond histogram, in µs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Median, µs.
    pub p50: f64,
    /// 99th percentile, µs.
    pub p99: f64,
    /// 99.9th percentile, µs.
    pub p999: f64,
}

// === impl Percentiles ===

impl Percentiles {
    /// Reads them off `hist` (ns).
    pub fn of(hist: &Histogram<u64>) -> Self {
        let us = |q: f64| hist.value_at_quantile(q) as f64 / 1e3;
        Self {
            count: hist.len(),
            p50: us(0.5),
            p99: us(0.99),
            p999: us(0.999),
        }
    }

    /// `| count | p50 | p99 | p99.9 |` cells.
    pub fn cells(&self) -> String {
        format!(
            "{} | {:.1} | {:.1} | {:.1}",
            self.count, self.p50, self.p99, self.p999
        )
    }
}

/// `met` or `missed by N µs` (or units) against a goal of at most `goal`.
pub fn verdict(value: f64, goal: f64, unit: &str) -> String {
    if value <= goal {
        format!("**met** (goal ≤ {goal} {unit})")
    } else {
        format!(
            "**missed** by {:.2} {unit} (goal ≤ {goal} {unit})",
            value - goal
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_verdicts() {
        let mut h = crate::ai::client::ns_histogram();
        for ns in 1..=1000u64 {
            h.record(ns * 1000).unwrap();
        }
        let p = Percentiles::of(&h);
        assert_eq!(p.count, 1000);
        assert!((p.p50 - 500.0).abs() < 1.0 && (p.p99 - 990.0).abs() < 2.0);
        assert!(verdict(90.0, 100.0, "µs").contains("met"));
        assert!(verdict(130.0, 100.0, "µs").contains("by 30.00 µs"));
    }
}
