//! Quotas exact across the host's shards: units per calendar period (UTC)
//! or per rolling period counted in 20 steps. Each key owns one bucket per
//! step, an atomic packing the step's number (24 bits) with its count (40
//! bits); only the current step's bucket is ever written, so a check reads
//! the past steps (which no longer change) and moves the current one with
//! one compare-and-swap: two shards can never both take the last unit.
//! Touched keys are marked so that their counts can be saved to the store
//! and read back after a restart.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tuning::Period;

use crate::slots::Slots;
use crate::Decision;

/// Bits of a bucket's count.
const COUNT_BITS: u32 = 40;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;
/// Step numbers are kept modulo this.
/// Step numbers are kept modulo this: under 2^24, and a multiple of the
/// rolling steps, so that a step's bucket is the same whether its number
/// is taken whole or modulo this.
const STEP_MOD: u64 = ROLLING_STEPS << 19;
/// Steps of a rolling window.
/// Steps of a rolling window: 20 divides every period (a minute's steps
/// are 3 s, a day's 72 min).
const ROLLING_STEPS: u64 = 20;

/// A quota's table.
#[derive(Debug)]
pub struct Quotas {
    limit: u64,
    period: Period,
    /// Steps per window: 1 (calendar) or [`ROLLING_STEPS`].
    steps: u64,
    slots: Slots,
    buckets: Box<[AtomicU64]>,
    dirty: Box<[AtomicBool]>,
}

/// A step: its number and when it ends (Unix seconds).
#[derive(Debug, Clone, Copy)]
struct Step {
    no: u64,
    ends: u64,
}

/// A key's count in one step, as saved to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    /// The key's hash.
    pub key: u64,
    /// The step's number (modulo 2^24).
    pub step: u64,
    /// Units counted in it.
    pub count: u64,
}

fn pack(no: u64, count: u64) -> u64 {
    ((no % STEP_MOD) << COUNT_BITS) | count.min(COUNT_MAX)
}

fn unpack(v: u64) -> (u64, u64) {
    (v >> COUNT_BITS, v & COUNT_MAX)
}

impl Quotas {
    /// A table of `capacity` keys for `q`.
    pub fn new(q: &tuning::Quota, capacity: usize) -> Quotas {
        let slots = Slots::new(capacity);
        let steps = if q.rolling { ROLLING_STEPS } else { 1 };
        let n = slots.len() * steps as usize;
        Quotas {
            limit: q.limit.min(COUNT_MAX),
            period: q.period,
            steps,
            buckets: (0..n).map(|_| AtomicU64::new(0)).collect(),
            dirty: (0..slots.len()).map(|_| AtomicBool::new(false)).collect(),
            slots,
        }
    }

    /// The current step at `now` (Unix seconds).
    fn step(&self, now: u64) -> Step {
        match self.steps {
            1 => calendar(self.period, now),
            n => {
                let len = (self.period.seconds() / n).max(1);
                let no = now / len;
                Step {
                    no,
                    ends: (no + 1) * len,
                }
            }
        }
    }

    /// Units of slot `i` counted in the window of `step`, but for the
    /// current step's bucket; and when the oldest of them leaves it.
    fn past(&self, i: usize, step: Step) -> (u64, Option<u64>) {
        let cur = step.no % STEP_MOD;
        let len = (self.period.seconds() / self.steps).max(1);
        let mut sum = 0;
        let mut oldest = None;
        for b in &self.buckets[i * self.steps as usize..][..self.steps as usize] {
            let (no, count) = unpack(b.load(Ordering::Acquire));
            let age = (cur + STEP_MOD - no) % STEP_MOD;
            if age == 0 || age >= self.steps || count == 0 {
                continue;
            }
            sum += count;
            let leaves = step.ends + (self.steps - 1 - age) * len;
            oldest = Some(oldest.map_or(leaves, |o: u64| o.min(leaves)));
        }
        (sum, oldest)
    }

    fn bucket(&self, i: usize, step: Step) -> &AtomicU64 {
        let no = step.no % STEP_MOD;
        &self.buckets[i * self.steps as usize + (no % self.steps) as usize]
    }

    /// Units of slot `i` in the window of `step`.
    fn used(&self, i: usize, step: Step) -> u64 {
        let (no, count) = unpack(self.bucket(i, step).load(Ordering::Acquire));
        let current = if no == step.no % STEP_MOD { count } else { 0 };
        self.past(i, step).0 + current
    }

    /// Counts `cost` units of `hash` at `now` (Unix seconds).
    pub fn check(&self, hash: u64, now: u64, cost: u64) -> Decision {
        let step = self.step(now);
        let slot = self.slots.claim(hash, |i| self.used(i, step) == 0);
        let Some(i) = slot else {
            return Decision::Limit {
                retry_after: Duration::from_secs(step.ends.saturating_sub(now).max(1)),
            };
        };
        let (past, oldest) = self.past(i, step);
        let bucket = self.bucket(i, step);
        let mut v = bucket.load(Ordering::Acquire);
        loop {
            let (no, count) = unpack(v);
            let count = if no == step.no % STEP_MOD { count } else { 0 };
            let used = past.saturating_add(count);
            // With a cost of 0, one unit must be left.
            if used.saturating_add(cost.max(1)) > self.limit {
                let free_at = match self.steps {
                    1 => step.ends,
                    n => oldest.unwrap_or(step.ends + (n - 1) * self.step_len()),
                };
                return Decision::Limit {
                    retry_after: Duration::from_secs(free_at.saturating_sub(now).max(1)),
                };
            }
            let next = pack(step.no, count.saturating_add(cost));
            match bucket.compare_exchange_weak(v, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    if cost > 0 {
                        self.dirty[i].store(true, Ordering::Release);
                    }
                    let reset = match self.steps {
                        1 => step.ends,
                        _ => oldest.unwrap_or(step.ends + (self.steps - 1) * self.step_len()),
                    };
                    return Decision::Admit {
                        remaining: self.limit.saturating_sub(used).saturating_sub(cost),
                        reset: Duration::from_secs(reset.saturating_sub(now)),
                    };
                }
                Err(seen) => v = seen,
            }
        }
    }

    fn step_len(&self) -> u64 {
        (self.period.seconds() / self.steps).max(1)
    }

    /// Charges `n` units to `hash` after the fact (it may go over).
    pub fn charge(&self, hash: u64, now: u64, n: u64) {
        let step = self.step(now);
        // Claimed, not just found: a key that was only asked about (cost 0)
        // may have lost its slot while its response was on the way.
        let Some(i) = self.slots.claim(hash, |i| self.used(i, step) == 0) else {
            return;
        };
        let _ = self
            .bucket(i, step)
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                let (no, count) = unpack(v);
                let count = if no == step.no % STEP_MOD { count } else { 0 };
                Some(pack(step.no, count.saturating_add(n)))
            });
        self.dirty[i].store(true, Ordering::Release);
    }

    /// Gives back `n` units charged to `hash` at `at` that were not used
    /// (a reservation settled lower). Units of a window that has passed
    /// stay counted.
    pub fn refund(&self, hash: u64, at: u64, n: u64) {
        let step = self.step(at);
        let Some(i) = self.slots.find(hash) else {
            return;
        };
        let _ = self
            .bucket(i, step)
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                let (no, count) = unpack(v);
                (no == step.no % STEP_MOD).then(|| pack(step.no, count.saturating_sub(n)))
            });
        self.dirty[i].store(true, Ordering::Release);
    }

    /// The counts of keys touched since the last call, their marks
    /// cleared: what the store must save.
    pub fn take_dirty(&self) -> Vec<Saved> {
        let mut out = Vec::new();
        for (i, d) in self.dirty.iter().enumerate() {
            if !d.swap(false, Ordering::AcqRel) {
                continue;
            }
            let key = self.slots.hash_at(i);
            for b in &self.buckets[i * self.steps as usize..][..self.steps as usize] {
                let (step, count) = unpack(b.load(Ordering::Acquire));
                if count > 0 {
                    out.push(Saved { key, step, count });
                }
            }
        }
        out
    }

    /// Adds counts read back from the store to the keys' buckets, those
    /// of steps still in the window at `now`.
    pub fn restore(&self, saved: &[Saved], now: u64) {
        let step = self.step(now);
        let cur = step.no % STEP_MOD;
        for s in saved {
            let age = (cur + STEP_MOD - s.step % STEP_MOD) % STEP_MOD;
            if age >= self.steps {
                continue;
            }
            let Some(i) = self.slots.claim(s.key, |i| self.used(i, step) == 0) else {
                continue;
            };
            let base = i * self.steps as usize;
            let b = &self.buckets[base + (s.step % STEP_MOD % self.steps) as usize];
            let _ = b.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                let (no, count) = unpack(v);
                let count = if no == s.step % STEP_MOD { count } else { 0 };
                Some(pack(s.step, count.saturating_add(s.count)))
            });
        }
    }
}

/// The calendar period holding `now` (Unix seconds, UTC): its number and
/// when it ends.
pub fn period_of(period: Period, now: u64) -> (u64, u64) {
    let s = calendar(period, now);
    (s.no, s.ends)
}

/// The calendar period holding `now` (Unix seconds, UTC).
fn calendar(period: Period, now: u64) -> Step {
    let fixed = |len: u64, offset: u64| {
        let no = (now + offset) / len;
        Step {
            no,
            ends: (no + 1) * len - offset,
        }
    };
    match period {
        Period::Minute => fixed(60, 0),
        Period::Hour => fixed(3_600, 0),
        Period::Day => fixed(86_400, 0),
        // 1970-01-01 was a Thursday: weeks start on Monday.
        Period::Week => fixed(7 * 86_400, 3 * 86_400),
        Period::Month => {
            let (y, m) = year_month(now / 86_400);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            Step {
                no: y * 12 + (m - 1),
                ends: days_from_civil(ny, nm) * 86_400,
            }
        }
    }
}

/// The year and month (1–12) of a day counted from 1970-01-01.
fn year_month(days: u64) -> (u64, u64) {
    // Howard Hinnant's civil_from_days, for days after the epoch.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m)
}

/// Days from 1970-01-01 to the first of month `m` of year `y`.
fn days_from_civil(y: u64, m: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(limit: u64, period: Period, rolling: bool) -> Quotas {
        Quotas::new(
            &tuning::Quota {
                limit,
                period,
                rolling,
            },
            16,
        )
    }

    const DAY: u64 = 86_400;
    /// 2026-12-02 10:00 UTC.
    const NOW: u64 = 1_796_205_600;

    #[test]
    fn a_reservation_fits_whole_or_not_at_all_and_gives_back_what_was_unused() {
        let q = quota(1000, Period::Day, false);
        assert!(matches!(
            q.check(1, NOW, 600),
            Decision::Admit { remaining: 400, .. }
        ));
        assert!(
            matches!(q.check(1, NOW, 500), Decision::Limit { .. }),
            "500 > 400 left"
        );
        q.refund(1, NOW, 550); // the call used 50 of its 600
        assert!(matches!(
            q.check(1, NOW, 900),
            Decision::Admit { remaining: 50, .. }
        ));
        // A cost that would overflow is refused, never wrapped.
        assert!(matches!(q.check(1, NOW, u64::MAX), Decision::Limit { .. }));
        assert!(matches!(
            q.check(1, NOW, 50),
            Decision::Admit { remaining: 0, .. }
        ));
        // A refund for a window that has passed gives nothing back.
        q.refund(1, NOW - DAY, 1000);
        assert!(matches!(q.check(1, NOW, 1), Decision::Limit { .. }));
    }

    #[test]
    fn calendar_periods_end_on_utc_boundaries() {
        assert_eq!(year_month(NOW / DAY), (2026, 12));
        let month = calendar(Period::Month, NOW);
        assert_eq!(month.ends, days_from_civil(2027, 1) * DAY);
        assert_eq!(days_from_civil(1970, 1), 0);
        assert_eq!(days_from_civil(2000, 3), 11_017);
        // 2026-12-02 is a Wednesday: the week ends on Monday 2026-12-07.
        assert_eq!(
            calendar(Period::Week, NOW).ends,
            days_from_civil(2026, 12) * DAY + 6 * DAY
        );
        assert_eq!(calendar(Period::Day, NOW).ends, (NOW / DAY + 1) * DAY);
    }

    #[test]
    fn a_calendar_quota_admits_its_limit_then_waits_for_the_next_period() {
        let q = quota(3, Period::Day, false);
        let admitted = (0..10)
            .filter(|_| matches!(q.check(5, NOW, 1), Decision::Admit { .. }))
            .count();
        assert_eq!(admitted, 3);
        let Decision::Limit { retry_after } = q.check(5, NOW, 1) else {
            panic!("over the quota")
        };
        assert_eq!(
            retry_after,
            Duration::from_secs(14 * 3600),
            "until midnight UTC"
        );
        assert!(matches!(
            q.check(5, NOW + 14 * 3600, 1),
            Decision::Admit { .. }
        ));
    }

    #[test]
    fn a_rolling_quota_frees_units_as_their_steps_leave_the_window() {
        let q = quota(2, Period::Day, true);
        assert!(matches!(q.check(9, NOW, 1), Decision::Admit { .. }));
        assert!(matches!(q.check(9, NOW + 3600, 1), Decision::Admit { .. }));
        assert!(matches!(q.check(9, NOW + 7200, 1), Decision::Limit { .. }));
        // The first unit's step (72 minutes) leaves the window a day after
        // the step began.
        let step = DAY / 20;
        let leaves = (NOW / step + 20) * step;
        assert!(matches!(q.check(9, leaves - 1, 1), Decision::Limit { .. }));
        assert!(matches!(q.check(9, leaves + 1, 1), Decision::Admit { .. }));
    }

    #[test]
    fn charges_and_saved_counts_come_back() {
        let q = quota(100, Period::Hour, false);
        assert!(matches!(q.check(1, NOW, 0), Decision::Admit { .. }));
        q.charge(1, NOW, 99);
        assert!(matches!(
            q.check(1, NOW, 1),
            Decision::Admit { remaining: 0, .. }
        ));
        let saved = q.take_dirty();
        assert_eq!(saved.len(), 1);
        assert_eq!(saved[0].count, 100);
        assert!(q.take_dirty().is_empty(), "marks are cleared");
        let again = quota(100, Period::Hour, false);
        again.restore(&saved, NOW + 60);
        assert!(matches!(
            again.check(1, NOW + 60, 1),
            Decision::Limit { .. }
        ));
        let later = quota(100, Period::Hour, false);
        later.restore(&saved, NOW + 3600);
        assert!(
            matches!(later.check(1, NOW + 3600, 1), Decision::Admit { .. }),
            "a past period's count is not restored"
        );
    }
}
