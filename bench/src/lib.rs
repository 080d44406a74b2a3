//! Load harness for coregate: `coregate-bench`, a lean HTTP/1.1 load
//! generator (closed and open loop, latency corrected for coordinated
//! omission), and a minimal origin to drive it against.
//!
//! It drives any HTTP/1.1 server over TCP as a black box, so coregate, nginx
//! and haproxy get exactly the same load. It depends on none of the
//! workspace crates (responses are framed with httparse in [`framing`]).
//!
//! Measured on the 2-core benchmark VMs, pinned to CPU 0 with the nginx
//! origin (64 connections, 100-byte body): 5.2–5.3 µs of its own CPU per
//! request against wrk 4.1's 5.9–6.1 µs, and 9–14% more req/s from the same
//! origin (bench/README.md).

pub mod error;
pub mod framing;
pub mod loadgen;
pub mod origin;
pub mod report;
pub mod scenario;

pub use error::BenchError;
pub use report::Report;
pub use scenario::Scenario;
