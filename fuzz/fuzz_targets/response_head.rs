//! Fuzz target: see `parser::fuzz::response_head` for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parser::fuzz::response_head(data));
