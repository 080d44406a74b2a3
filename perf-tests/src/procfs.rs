//! What a process tree costs, read from /proc: CPU time (utime + stime from
//! `/proc/PID/stat`, and nanoseconds from `/proc/PID/task/*/schedstat`) and
//! memory (VmHWM, VmRSS from `/proc/PID/status`).
//!
//! `/proc/PID/stat` of a process already totals all its threads, including
//! threads that have exited; `task/TID/stat` gives one thread. So the tick
//! figure sums process-level stats (adding the task files too would count
//! every thread twice), and the nanosecond figure sums the live threads'
//! schedstat, which agrees within 0.1% (shared/BENCH.md).

use std::collections::HashMap;
use std::fs;

/// CPU time of a set of processes at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuSample {
    /// utime + stime summed over the processes, in clock ticks.
    pub ticks: u64,
    /// Of those, utime (user space) alone.
    pub user_ticks: u64,
    /// Time on CPU summed over their live threads, in nanoseconds.
    pub sched_ns: u64,
}

// === impl CpuSample ===

impl CpuSample {
    /// Samples `pids`; processes that vanished count as zero.
    pub fn of(pids: &[u32]) -> Self {
        pids.iter().fold(Self::default(), |sum, &pid| {
            let (user, system) = stat_user_system(pid).unwrap_or((0, 0));
            Self {
                ticks: sum.ticks + user + system,
                user_ticks: sum.user_ticks + user,
                sched_ns: sum.sched_ns + sched_ns(pid),
            }
        })
    }

    /// CPU microseconds between two samples, from the tick counts.
    pub fn micros_since(&self, before: &Self) -> f64 {
        self.ticks.saturating_sub(before.ticks) as f64 * 1e6 / ticks_per_second() as f64
    }

    /// User-space CPU microseconds between two samples (utime).
    pub fn user_micros_since(&self, before: &Self) -> f64 {
        self.user_ticks.saturating_sub(before.user_ticks) as f64 * 1e6 / ticks_per_second() as f64
    }

    /// CPU microseconds between two samples, from schedstat.
    pub fn sched_micros_since(&self, before: &Self) -> f64 {
        self.sched_ns.saturating_sub(before.sched_ns) as f64 / 1e3
    }
}

/// Clock ticks per second (`getconf CLK_TCK`).
pub fn ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second().max(1)
}

/// utime + stime of one process (all its threads), in clock ticks.
pub fn stat_ticks(pid: u32) -> Option<u64> {
    stat_user_system(pid).map(|(u, s)| u + s)
}

/// utime and stime of one process (all its threads), in clock ticks.
pub fn stat_user_system(pid: u32) -> Option<(u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields = stat_fields(&text)?;
    // Fields 14 and 15 of stat(5); `fields` starts at field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime, stime))
}

/// The fields after `(comm)`, which may itself hold spaces and parentheses.
fn stat_fields(text: &str) -> Option<Vec<&str>> {
    let after = &text[text.rfind(')')? + 1..];
    Some(after.split_whitespace().collect())
}

/// Sum of the first schedstat field over a process's live threads.
pub fn sched_ns(pid: u32) -> u64 {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// A `kB` field of `/proc/PID/status`, e.g. `VmHWM` or `VmRSS`.
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// A status field summed over processes.
pub fn sum_status_kb(pids: &[u32], field: &str) -> u64 {
    pids.iter().filter_map(|&pid| status_kb(pid, field)).sum()
}

/// Busy and total jiffies of each CPU (`cpuN` lines of /proc/stat); busy
/// is everything but idle and iowait.
pub fn cpu_jiffies() -> Vec<(u64, u64)> {
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    text.lines()
        .filter(|line| {
            line.starts_with("cpu") && line.as_bytes().get(3).is_some_and(u8::is_ascii_digit)
        })
        .map(|line| {
            let values: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect();
            let total: u64 = values.iter().take(8).sum();
            let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
            (total - idle, total)
        })
        .collect()
}

/// Busy fraction of CPU `cpu` between two [`cpu_jiffies`] samples.
pub fn busy_between(before: &[(u64, u64)], after: &[(u64, u64)], cpu: usize) -> Option<f64> {
    let (b, a) = (before.get(cpu)?, after.get(cpu)?);
    let total = a.1.checked_sub(b.1).filter(|&t| t > 0)?;
    Some(a.0.saturating_sub(b.0) as f64 / total as f64)
}

/// `root` and all its descendants (e.g. an nginx master and its workers).
pub fn process_tree(root: u32) -> Vec<u32> {
    let parents = parent_map();
    let mut tree = vec![root];
    let mut at = 0;
    while at < tree.len() {
        let parent = tree[at];
        tree.extend(
            parents
                .iter()
                .filter(|&(_, &ppid)| ppid == parent)
                .map(|(&pid, _)| pid),
        );
        at += 1;
    }
    tree
}

/// pid → ppid for every process.
fn parent_map() -> HashMap<u32, u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return HashMap::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let ppid = stat_fields(&text)?.get(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_comm() {
        let text = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5 1000 50";
        let fields = stat_fields(text).unwrap();
        assert_eq!(fields[0], "S");
        assert_eq!(fields[1], "1");
        assert_eq!((fields[11], fields[12]), ("7", "3"));
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let spin = std::time::Instant::now();
        let mut x = 0u64;
        // Burn CPU until schedstat shows 20 ms (wall time varies with host load).
        while CpuSample::of(&[me]).sched_ns < 20_000_000 {
            assert!(
                spin.elapsed() < std::time::Duration::from_secs(20),
                "schedstat does not advance"
            );
            for _ in 0..100_000 {
                x = x.wrapping_add(std::hint::black_box(1));
            }
        }
        assert!(x > 0);
        assert!(stat_ticks(me).is_some());
        assert!(status_kb(me, "VmHWM").unwrap() > 0);
        assert!(status_kb(me, "VmRSS").unwrap() > 0);
        assert_eq!(status_kb(me, "NoSuchField"), None);
        assert_eq!(process_tree(me)[0], me);
        assert_eq!(CpuSample::of(&[u32::MAX]), CpuSample::default());
    }

    #[test]
    fn tree_includes_children() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let tree = process_tree(std::process::id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(tree.contains(&child.id()));
    }

    #[test]
    fn cpu_busy_fractions() {
        let cpus = cpu_jiffies();
        assert_eq!(
            cpus.len(),
            std::thread::available_parallelism().unwrap().get()
        );
        assert!(cpus.iter().all(|&(busy, total)| busy <= total));
        let before = [(10, 100)];
        assert_eq!(busy_between(&before, &[(60, 200)], 0), Some(0.5));
        assert_eq!(busy_between(&before, &before, 0), None);
        assert_eq!(busy_between(&before, &[(60, 200)], 1), None);
    }

    #[test]
    fn micros_between_samples() {
        let before = CpuSample {
            ticks: 100,
            user_ticks: 40,
            sched_ns: 1_000,
        };
        let after = CpuSample {
            ticks: 100 + ticks_per_second(),
            user_ticks: 40 + ticks_per_second() / 4,
            sched_ns: 3_000,
        };
        assert!((after.micros_since(&before) - 1e6).abs() < 1e-6);
        let user = after.user_micros_since(&before);
        assert!(
            (user - 0.25e6).abs() < 1e6 / ticks_per_second() as f64,
            "{user}"
        );
        assert!((after.sched_micros_since(&before) - 2.0).abs() < 1e-9);
    }
}
