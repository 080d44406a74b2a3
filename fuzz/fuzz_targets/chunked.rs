//! Fuzz target: see `parser::fuzz::chunked` for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parser::fuzz::chunked(data));
