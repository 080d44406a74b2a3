//! Why the per-shard io_uring could not be set up, with the fix in the message.

use std::io;

/// Why [`Ring::new`](super::Ring::new) failed.
///
/// Each `Display` names the cause and how an operator fixes it, because this
/// error usually ends the process at start-up and is read in a unit's logs.
#[derive(Debug, thiserror::Error)]
pub enum IoSetupError {
    /// `io_uring_setup` or a registration ran out of locked memory.
    #[error(
        "io_uring {op} failed: locked-memory limit too low ({source}); raise it \
         with `ulimit -l` (e.g. `ulimit -l 65536`) or systemd `LimitMEMLOCK=`, \
         or lower the ring entries / buffer count"
    )]
    Memlock {
        /// The step that failed.
        op: &'static str,
        /// The OS error (ENOMEM).
        source: io::Error,
    },
    /// The kernel or a sandbox refused io_uring (EPERM/EACCES).
    #[error(
        "io_uring {op} was refused ({source}): io_uring is disabled by the \
         `kernel.io_uring_disabled` sysctl (set it to 0, or to 1 and add the \
         user to `kernel.io_uring_group`) or blocked by a seccomp profile \
         (container runtimes' default profiles block io_uring; allow \
         io_uring_setup/io_uring_enter/io_uring_register)"
    )]
    Denied {
        /// The step that failed.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The kernel has no io_uring, or a seccomp filter answers ENOSYS.
    #[error(
        "io_uring {op} is not available ({source}): the kernel lacks io_uring \
         (CONFIG_IO_URING; coregate needs Linux >= 6.0) or a seccomp profile \
         filters io_uring_setup with ENOSYS; allow it or upgrade the kernel"
    )]
    Unsupported {
        /// The step that failed.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// A feature coregate relies on is missing (kernel too old).
    #[error(
        "io_uring {op} failed ({source}): the kernel lacks {feature}; \
         coregate needs Linux >= 6.0 (6.1+ recommended)"
    )]
    Feature {
        /// The step that failed.
        op: &'static str,
        /// What the kernel lacks.
        feature: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The ring configuration is invalid.
    #[error("invalid io ring config: {0}")]
    Config(&'static str),
    /// Any other OS error during setup.
    #[error("io_uring {op} failed: {source}")]
    Os {
        /// The step that failed.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

// === impl IoSetupError ===

impl IoSetupError {
    /// Classifies an OS error from setup step `op`.
    pub(crate) fn from_os(op: &'static str, feature: &'static str, source: io::Error) -> Self {
        match source.raw_os_error() {
            Some(libc::ENOMEM) => IoSetupError::Memlock { op, source },
            Some(libc::EPERM) | Some(libc::EACCES) => IoSetupError::Denied { op, source },
            Some(libc::ENOSYS) => IoSetupError::Unsupported { op, source },
            Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) => IoSetupError::Feature {
                op,
                feature,
                source,
            },
            _ => IoSetupError::Os { op, source },
        }
    }
}

/// The error an operation returns once the ring has been shut down.
pub(crate) fn ring_closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "io ring is shut down")
}

/// The error a send returns after an earlier send on the socket was abandoned.
pub(crate) fn send_poisoned() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "an earlier send on this socket was dropped mid-flight; the stream is no longer ordered",
    )
}

/// Converts a negative CQE result into an `io::Error`.
pub(crate) fn from_res(res: i32) -> io::Error {
    io::Error::from_raw_os_error(-res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_cause_and_fix() {
        let e = IoSetupError::from_os("setup", "x", io::Error::from_raw_os_error(libc::ENOMEM));
        let s = e.to_string();
        assert!(
            s.contains("ulimit -l") && s.contains("LimitMEMLOCK="),
            "{s}"
        );
        let e = IoSetupError::from_os("setup", "x", io::Error::from_raw_os_error(libc::EPERM));
        let s = e.to_string();
        assert!(
            s.contains("io_uring_disabled") && s.contains("seccomp"),
            "{s}"
        );
        let e = IoSetupError::from_os("setup", "x", io::Error::from_raw_os_error(libc::ENOSYS));
        assert!(e.to_string().contains("seccomp"));
    }
}
