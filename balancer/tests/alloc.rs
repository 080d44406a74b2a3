//! `Selector::pick`, `on_start` and `on_end` allocate nothing, for every
//! algorithm, healthy or failing open. Counted with a wrapping global
//! allocator; this file is its own test binary, so nothing else runs
//! inside the counted window.
#![allow(unsafe_code, clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use balancer::{Algorithm, Backend, BackendSet, Eligible, Selector};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the thread-local counter does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

#[test]
fn hot_path_does_not_allocate() {
    let probe = allocations(|| drop(std::hint::black_box(Box::new(7u64))));
    assert_eq!(probe, 1, "the counter counts");
    let now = Instant::now();
    for alg in [
        Algorithm::RoundRobin,
        Algorithm::Weighted,
        Algorithm::LeastConn,
        Algorithm::P2cEwma,
        Algorithm::Random,
        Algorithm::Maglev,
    ] {
        let backends = (0..100u16)
            .map(|i| {
                Backend::new(SocketAddr::from(([10, 0, 0, 1], 1000 + i)))
                    .with_weight(1 + u32::from(i % 3))
            })
            .collect();
        let set = BackendSet::build(backends, alg).unwrap();
        let mut sel = Selector::new(&set, 3);
        let some = Eligible::from_fn(100, |i| i % 10 != 0);
        let none = Eligible::none(100);
        let n = allocations(|| {
            for k in 0..10_000u64 {
                let ok = if k % 100 == 0 { &none } else { &some };
                let p = sel
                    .pick(&set, ok, Some(k.wrapping_mul(0x9e37_79b9_7f4a_7c15)), now)
                    .unwrap();
                sel.on_start(p.idx);
                sel.on_end(p.idx, Duration::from_micros(k % 900), now);
            }
        });
        assert_eq!(n, 0, "{alg:?} allocated {n} times in 10k picks");
    }
}
