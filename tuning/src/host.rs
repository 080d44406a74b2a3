//! The CPUs this process may run on, read once, so validation can be tested
//! against a made-up host.

use std::num::NonZeroUsize;

use crate::units::parse_cpu_list;

/// Facts about the machine that validation checks against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Host {
    /// CPUs in this process's affinity mask, ascending.
    allowed_cpus: Vec<usize>,
}

// === impl Host ===

impl Host {
    /// Reads `Cpus_allowed_list` from `/proc/self/status` (the
    /// `sched_getaffinity` mask); falls back to `0..available_parallelism`.
    pub(crate) fn detect() -> Host {
        let from_proc = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| allowed_from_status(&status));
        match from_proc {
            Some(allowed_cpus) => Host { allowed_cpus },
            None => Host::with_cpu_count(
                std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            ),
        }
    }

    /// A host whose usable CPUs are `0..count`.
    pub(crate) fn with_cpu_count(count: usize) -> Host {
        Host {
            allowed_cpus: (0..count.max(1)).collect(),
        }
    }

    /// A host whose usable CPUs are exactly `cpus`.
    #[cfg(test)]
    pub(crate) fn with_cpus(mut cpus: Vec<usize>) -> Host {
        cpus.sort_unstable();
        Host { allowed_cpus: cpus }
    }

    /// The CPUs the process may use, ascending.
    pub(crate) fn allowed_cpus(&self) -> &[usize] {
        &self.allowed_cpus
    }

    /// How many CPUs the process may use: the default shard count.
    pub(crate) fn cpu_count(&self) -> usize {
        self.allowed_cpus.len()
    }

    /// Whether the process may run on `cpu`.
    pub(crate) fn allows(&self, cpu: usize) -> bool {
        self.allowed_cpus.binary_search(&cpu).is_ok()
    }

    /// The usable CPUs in list form, e.g. `0-3,6`, for error messages.
    pub(crate) fn describe(&self) -> String {
        crate::units::format_cpu_list(&self.allowed_cpus)
    }
}

/// The `Cpus_allowed_list:` line of `/proc/<pid>/status`, parsed.
fn allowed_from_status(status: &str) -> Option<Vec<usize>> {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?;
    let mut cpus = parse_cpu_list(line.trim()).ok()?;
    cpus.sort_unstable();
    cpus.dedup();
    (!cpus.is_empty()).then_some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpus_allowed_list() {
        let status = "Name:\tcoregate\nCpus_allowed:\tf\nCpus_allowed_list:\t0-2,5\n";
        assert_eq!(allowed_from_status(status), Some(vec![0, 1, 2, 5]));
        assert_eq!(allowed_from_status("Name:\tx\n"), None);
    }

    #[test]
    fn detect_finds_at_least_one_cpu() {
        let host = Host::detect();
        assert!(host.cpu_count() >= 1);
        assert!(host.allows(host.allowed_cpus[0]));
    }
}
