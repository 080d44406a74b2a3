//! Side-by-side performance tests: coregate against nginx and haproxy on
//! the shared/BENCH.md protocol (origin and load generator on CPU 0, each
//! proxy alone on CPU 1, interleaved rounds, proxy CPU µs per request read
//! from /proc).
//!
//! The `compare` binary runs it; the helpers here (start a binary pinned
//! with taskset and wait for its port, read a process tree's CPU time and
//! RSS from /proc) are meant for the engine's perf tests too. It drives
//! every proxy, coregate included, as a black box over TCP.
//!
//! Measured (2-core AMD EPYC VM, headline scenario, two batches of 5 rounds):
//! haproxy costs 1.11–1.14× nginx's CPU per request (shared/BENCH.md's
//! reference: 1.12×); see results/ and bench/README.md.

pub mod ai;
pub mod compare;
pub mod proc;
pub mod procfs;
pub mod stats;
pub mod tls_load;
