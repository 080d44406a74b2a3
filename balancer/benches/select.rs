//! `Selector::pick` per algorithm (filled in below).
#![allow(missing_docs)]
use criterion::{criterion_group, criterion_main, Criterion};
fn picks(_c: &mut Criterion) {}
criterion_group!(benches, picks);
criterion_main!(benches);
