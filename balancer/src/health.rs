//! Backend health: passive outlier ejection and active-check verdicts.
//!
//! Both are plain state machines fed by the engine (request outcomes, check
//! results) with the time passed in; they report transitions so the engine
//! can log and count them. The engine combines them into an
//! [`Eligible`](crate::Eligible) mask for each pick.

use std::time::{Duration, Instant};

use crate::{BackendIdx, BackendSet};

/// A change of a backend's health verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The backend may take traffic again.
    Healthy,
    /// The backend was taken out of rotation.
    Unhealthy,
}

/// Passive ejection settings (Envoy's `consecutive_5xx` outlier detection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierConfig {
    /// Consecutive failures that eject a backend; 0 turns ejection off.
    pub consecutive_failures: u32,
    /// First ejection time; each further ejection doubles it.
    pub base_ejection: Duration,
    /// Longest ejection time.
    pub max_ejection: Duration,
}

/// Envoy's defaults: 5 failures, 30 s, at most 300 s.
impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct OutlierState {
    streak: u32,
    ejections: u32,
    /// End of the current (or last) ejection.
    until: Option<Instant>,
    /// Whether `Healthy` has been reported since the last ejection.
    returned: bool,
}

/// Passive outlier ejection per backend, one per shard and group.
///
/// `consecutive_failures` failures in a row eject a backend for
/// `base · 2^(ejections-1)`, capped at `max_ejection`. A success resets the
/// streak. The ejection count (the exponent) returns to zero once the
/// backend has gone `max_ejection` since its last ejection ended without
/// being ejected again, so an old incident does not lengthen a new one.
#[derive(Debug, Clone)]
pub struct Outlier {
    config: OutlierConfig,
    state: Vec<OutlierState>,
}

// === impl Outlier ===

impl Outlier {
    /// Tracks `backends` backends, none ejected.
    pub fn new(config: OutlierConfig, backends: usize) -> Self {
        Outlier {
            config,
            state: vec![OutlierState::default(); backends],
        }
    }

    /// Records a request outcome. Returns `Unhealthy` when this failure
    /// ejects the backend, `Healthy` on the first outcome after an ejection
    /// ended.
    pub fn record(&mut self, idx: BackendIdx, ok: bool, now: Instant) -> Option<Transition> {
        let cfg = self.config;
        let s = self
            .state
            .get_mut(idx)
            .filter(|_| cfg.consecutive_failures > 0)?;
        if s.until.is_some_and(|u| now < u) {
            return None; // still ejected: a fail-open pick says nothing new
        }
        let back = s.until.is_some() && !std::mem::replace(&mut s.returned, true);
        if ok {
            s.streak = 0;
            return back.then_some(Transition::Healthy);
        }
        s.streak += 1;
        if s.streak < cfg.consecutive_failures {
            return back.then_some(Transition::Healthy);
        }
        Some(Self::eject(s, &cfg, now))
    }

    fn eject(s: &mut OutlierState, cfg: &OutlierConfig, now: Instant) -> Transition {
        let forgiven = s
            .until
            .is_some_and(|u| now.saturating_duration_since(u) >= cfg.max_ejection);
        if forgiven {
            s.ejections = 0;
        }
        s.ejections = s.ejections.saturating_add(1);
        let factor = 1u32 << (s.ejections - 1).min(31);
        let time = cfg
            .base_ejection
            .saturating_mul(factor)
            .min(cfg.max_ejection);
        s.until = Some(now + time);
        s.streak = 0;
        s.returned = false;
        Transition::Unhealthy
    }

    /// Whether `idx` is ejected at `now`.
    #[inline]
    pub fn is_ejected(&self, idx: BackendIdx, now: Instant) -> bool {
        self.state
            .get(idx)
            .and_then(|s| s.until)
            .is_some_and(|u| now < u)
    }

    /// How many times `idx` was ejected in its current run of incidents.
    pub fn ejections(&self, idx: BackendIdx) -> u32 {
        self.state.get(idx).map_or(0, |s| s.ejections)
    }

    /// Moves to `new` after a reload, keeping the state of backends that
    /// stay (by address).
    pub fn rebuild(&mut self, old: &BackendSet, new: &BackendSet) {
        self.state = carry(&self.state, &new.carried_from(old));
    }

    /// Changes the settings; ejections in progress run their course.
    pub fn reconfigure(&mut self, config: OutlierConfig) {
        self.config = config;
    }
}

/// Active health-check verdicts with haproxy's `rise`/`fall` thresholds.
///
/// A healthy backend turns unhealthy after `fall` failed checks in a row;
/// an unhealthy one turns healthy after `rise` passed checks in a row.
/// Backends start healthy (haproxy's default), so a fresh process serves
/// before its first round of checks; use [`ActiveHealth::with_initial`]
/// to start them down instead (Envoy's default).
#[derive(Debug, Clone)]
pub struct ActiveHealth {
    rise: u32,
    fall: u32,
    initial: bool,
    state: Vec<CheckState>,
}

#[derive(Debug, Clone, Copy)]
struct CheckState {
    healthy: bool,
    /// Checks in a row that disagree with `healthy`.
    streak: u32,
}

// === impl ActiveHealth ===

impl ActiveHealth {
    /// `backends` backends, all healthy; `rise`/`fall` of 0 count as 1.
    pub fn new(backends: usize, rise: u32, fall: u32) -> Self {
        Self::with_initial(backends, rise, fall, true)
    }

    /// Like [`new`](Self::new), with every backend starting `healthy` or not.
    pub fn with_initial(backends: usize, rise: u32, fall: u32, healthy: bool) -> Self {
        let state = vec![CheckState { healthy, streak: 0 }; backends];
        ActiveHealth {
            rise: rise.max(1),
            fall: fall.max(1),
            initial: healthy,
            state,
        }
    }

    /// Records one check result; returns the transition it caused, if any.
    pub fn record(&mut self, idx: BackendIdx, ok: bool) -> Option<Transition> {
        let (rise, fall) = (self.rise, self.fall);
        let s = self.state.get_mut(idx)?;
        if ok == s.healthy {
            s.streak = 0;
            return None;
        }
        s.streak += 1;
        if s.streak < if ok { rise } else { fall } {
            return None;
        }
        *s = CheckState {
            healthy: ok,
            streak: 0,
        };
        Some(if ok {
            Transition::Healthy
        } else {
            Transition::Unhealthy
        })
    }

    /// The current verdict for `idx` (false past the end).
    #[inline]
    pub fn is_healthy(&self, idx: BackendIdx) -> bool {
        self.state.get(idx).is_some_and(|s| s.healthy)
    }

    /// Moves to `new` after a reload, keeping verdicts of backends that stay.
    pub fn rebuild(&mut self, old: &BackendSet, new: &BackendSet) {
        let fresh = CheckState {
            healthy: self.initial,
            streak: 0,
        };
        self.state = new
            .carried_from(old)
            .iter()
            .map(|o| o.and_then(|o| self.state.get(o)).copied().unwrap_or(fresh))
            .collect();
    }
}

fn carry<T: Copy + Default>(old: &[T], carried: &[Option<BackendIdx>]) -> Vec<T> {
    carried
        .iter()
        .map(|o| o.and_then(|o| old.get(o)).copied().unwrap_or_default())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn cfg() -> OutlierConfig {
        OutlierConfig {
            consecutive_failures: 3,
            base_ejection: 10 * S,
            max_ejection: 25 * S,
        }
    }

    #[test]
    fn ejects_after_streak_and_backs_off() {
        let t0 = Instant::now();
        let mut o = Outlier::new(cfg(), 2);
        assert_eq!(o.record(0, false, t0), None);
        assert_eq!(o.record(0, false, t0), None);
        assert_eq!(o.record(0, false, t0), Some(Transition::Unhealthy));
        assert!(o.is_ejected(0, t0 + 9 * S) && !o.is_ejected(0, t0 + 10 * S));
        assert!(!o.is_ejected(1, t0));
        // Back after 10 s, fails again: 20 s; then capped at 25 s.
        let t1 = t0 + 10 * S;
        assert_eq!(o.record(0, false, t1), Some(Transition::Healthy));
        o.record(0, false, t1);
        assert_eq!(o.record(0, false, t1), Some(Transition::Unhealthy));
        assert!(o.is_ejected(0, t1 + 19 * S) && !o.is_ejected(0, t1 + 20 * S));
        let t2 = t1 + 20 * S;
        (0..3).for_each(|_| {
            let _ = o.record(0, false, t2);
        });
        assert_eq!(o.ejections(0), 3);
        assert!(o.is_ejected(0, t2 + 24 * S) && !o.is_ejected(0, t2 + 25 * S));
    }

    #[test]
    fn success_resets_streak_and_old_incidents_are_forgiven() {
        let t0 = Instant::now();
        let mut o = Outlier::new(cfg(), 1);
        o.record(0, false, t0);
        o.record(0, false, t0);
        assert_eq!(o.record(0, true, t0), None);
        assert_eq!(o.record(0, false, t0), None);
        o.record(0, false, t0);
        assert_eq!(o.record(0, false, t0), Some(Transition::Unhealthy));
        let later = t0 + 10 * S + 25 * S;
        assert_eq!(o.record(0, true, later), Some(Transition::Healthy));
        (0..3).for_each(|_| {
            let _ = o.record(0, false, later);
        });
        assert_eq!(o.ejections(0), 1);
    }

    #[test]
    fn zero_threshold_is_off() {
        let mut o = Outlier::new(
            OutlierConfig {
                consecutive_failures: 0,
                ..cfg()
            },
            1,
        );
        let t0 = Instant::now();
        assert!((0..100).all(|_| o.record(0, false, t0).is_none()));
        assert!(!o.is_ejected(0, t0));
    }

    #[test]
    fn rise_and_fall() {
        let mut h = ActiveHealth::new(1, 2, 3);
        assert!(h.is_healthy(0));
        assert_eq!(h.record(0, false), None);
        assert_eq!(h.record(0, true), None);
        assert_eq!(h.record(0, false), None);
        assert_eq!(h.record(0, false), None);
        assert_eq!(h.record(0, false), Some(Transition::Unhealthy));
        assert!(!h.is_healthy(0));
        assert_eq!(h.record(0, true), None);
        assert_eq!(h.record(0, true), Some(Transition::Healthy));
        assert!(!ActiveHealth::with_initial(1, 1, 1, false).is_healthy(0));
        assert!(!h.is_healthy(5));
    }
}
