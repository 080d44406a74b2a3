//! Fuzz target: see `parser::fuzz::request_head` for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parser::fuzz::request_head(data));
