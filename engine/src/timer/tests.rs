use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use super::*;

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn counter() -> (Arc<Count>, Waker) {
    let c = Arc::new(Count(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn fires_at_its_tick_never_before() {
    let t0 = Instant::now();
    let mut w = Wheel::new(t0);
    let (count, waker) = counter();
    let key = w.insert(t0, ms(10), waker.clone()).unwrap();
    assert_eq!(w.advance(t0 + ms(9)), 0);
    assert!(!w.poll(key, &waker));
    assert_eq!(w.advance(t0 + ms(10)), 1);
    assert!(w.poll(key, &waker));
    assert_eq!(count.0.load(Ordering::Relaxed), 1);
    assert_eq!(w.len(), 0);
}

#[test]
fn deadlines_on_every_level_fire_in_order() {
    let t0 = Instant::now();
    let mut w = Wheel::new(t0);
    // Each level and the wrap of each: 1 ms to beyond the top lap.
    let delays = [
        1, 63, 64, 65, 100, 4095, 4096, 4097, 70_000, 262_144, 300_000, 17_000_000, 20_000_000,
    ];
    let keys: Vec<(u64, Key)> = delays
        .iter()
        .map(|&d| (d, w.insert(t0, ms(d), counter().1).unwrap()))
        .collect();
    let mut fired_at = Vec::new();
    let mut now = 0;
    // Walk time in uneven steps, as a ticker that wakes late would.
    while fired_at.len() < delays.len() {
        now += 1 + now / 7;
        w.advance(t0 + ms(now));
        for (d, key) in &keys {
            if !fired_at.iter().any(|(x, _)| x == d) && w.poll(*key, &counter().1) {
                fired_at.push((*d, now));
            }
        }
        assert!(now < 40_000_000, "did not fire: {fired_at:?}");
    }
    for (d, at) in fired_at {
        assert!(at >= d, "{d} ms fired early, at {at}");
        assert!(at <= d + 1 + d / 7, "{d} ms fired late, at {at}");
    }
}

#[test]
fn cancelled_timers_never_fire_and_slots_are_reused() {
    let t0 = Instant::now();
    let mut w = Wheel::new(t0);
    let (count, waker) = counter();
    for round in 0..1000u64 {
        let key = w.insert(t0 + ms(round), ms(50), waker.clone()).unwrap();
        w.cancel(key);
        w.advance(t0 + ms(round));
    }
    assert_eq!(w.len(), 0);
    assert!(w.entries.len() <= 1, "slab grew to {}", w.entries.len());
    w.advance(t0 + ms(5000));
    assert_eq!(count.0.load(Ordering::Relaxed), 0);
}

#[test]
fn a_stale_key_does_not_touch_a_reused_entry() {
    let t0 = Instant::now();
    let mut w = Wheel::new(t0);
    let (_, waker) = counter();
    let old = w.insert(t0, ms(5), waker.clone()).unwrap();
    w.cancel(old);
    let new = w.insert(t0, ms(500), waker.clone()).unwrap();
    assert_eq!(old.index, new.index);
    w.cancel(old);
    assert_eq!(w.len(), 1);
    assert!(!w.poll(new, &waker));
    w.advance(t0 + ms(500));
    assert!(w.poll(new, &waker));
}

#[test]
fn next_wake_is_the_earliest_slot_and_a_due_deadline_is_refused() {
    let t0 = Instant::now();
    let mut w = Wheel::new(t0);
    assert_eq!(w.next_wake(), None);
    let (_, waker) = counter();
    w.insert(t0, ms(300), waker.clone()).unwrap();
    w.insert(t0, ms(40), waker.clone()).unwrap();
    assert_eq!(w.next_wake(), Some(40));
    w.advance(t0 + ms(40));
    // The 300 ms entry sits in level 1: the ticker wakes at its slot start
    // (256) and files it lower.
    assert_eq!(w.next_wake(), Some(256));
    assert!(w.insert(t0, Duration::ZERO, waker).is_none());
}

#[test]
fn an_earlier_deadline_kicks_the_ticker() {
    let t0 = Instant::now();
    let mut w = Wheel::new(t0);
    let (ticks, ticker) = counter();
    let (_, waker) = counter();
    assert!(!w.park_ticker(&ticker, Some(t0 + ms(1000))));
    w.insert(t0, ms(2000), waker.clone()).unwrap();
    assert_eq!(ticks.0.load(Ordering::Relaxed), 0);
    w.insert(t0, ms(10), waker).unwrap();
    assert_eq!(ticks.0.load(Ordering::Relaxed), 1);
    assert!(
        w.park_ticker(&ticker, Some(t0 + ms(1000))),
        "the kick is seen once"
    );
    assert!(!w.park_ticker(&ticker, Some(t0 + ms(10))));
}

/// Random inserts, cancels and uneven advances against a plain list:
/// after every advance, exactly the live timers whose deadline has passed
/// have fired.
#[test]
fn matches_a_plain_list_under_random_use() {
    let t0 = Instant::now();
    let mut w = Wheel::new(t0);
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let (_, waker) = counter();
    let mut live: Vec<(Key, u64)> = Vec::new();
    let mut now = 0u64;
    for _ in 0..20_000 {
        match next(10) {
            0..=5 => {
                let d =
                    [next(70), next(5000), next(400_000), next(30_000_000)][next(4) as usize] + 1;
                let key = w.insert(t0 + ms(now), ms(d), waker.clone()).unwrap();
                live.push((key, now + d));
            }
            6 | 7 if !live.is_empty() => {
                let (key, _) = live.swap_remove(next(live.len() as u64) as usize);
                w.cancel(key);
            }
            _ => {
                now += [next(3), next(100), next(10_000), next(3_000_000)][next(4) as usize];
                w.advance(t0 + ms(now));
                for (key, deadline) in &live {
                    assert_eq!(
                        w.poll(*key, &waker),
                        *deadline <= now,
                        "deadline {deadline} at {now}"
                    );
                }
                live.retain(|(key, deadline)| {
                    let fired = *deadline <= now;
                    if fired {
                        w.cancel(*key);
                    }
                    !fired
                });
                assert_eq!(w.len(), live.len());
            }
        }
    }
}
