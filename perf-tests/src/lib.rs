//! Side-by-side performance tests: coregate against nginx and haproxy.
