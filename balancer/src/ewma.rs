//! Peak-EWMA latency estimate (Finagle's, as in linkerd and tower).
//!
//! A latency above the estimate replaces it at once (the *peak*: a backend
//! that slows down is avoided at once); one below it is blended in with
//! weight `1 - e^(-elapsed/tau)`. Between observations the estimate decays
//! toward zero with the same time constant, so a backend that has been
//! avoided for a while looks cheap again and gets probed. The load cost is
//! `estimate × (in_flight + 1)`. Time is an argument; nothing here reads a
//! clock.

use std::time::{Duration, Instant};

/// Decay time constant (linkerd's default).
pub const DEFAULT_DECAY: Duration = Duration::from_secs(10);
/// Estimate of a backend with no observation yet (linkerd's default).
pub const DEFAULT_RTT: Duration = Duration::from_millis(30);

/// How a [`PeakEwma`] starts and decays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EwmaConfig {
    /// Time constant `tau` of the exponential decay.
    pub decay: Duration,
    /// Estimate before the first observation.
    pub default_rtt: Duration,
}

impl Default for EwmaConfig {
    fn default() -> Self {
        EwmaConfig {
            decay: DEFAULT_DECAY,
            default_rtt: DEFAULT_RTT,
        }
    }
}

/// One backend's latency estimate, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeakEwma {
    estimate_ns: f64,
    /// When `estimate_ns` was last set; `None` until the first observation
    /// or read, so a fresh backend does not decay from an arbitrary epoch.
    stamp: Option<Instant>,
}

// === impl PeakEwma ===

impl PeakEwma {
    /// An estimate starting at `initial`.
    pub fn new(initial: Duration) -> Self {
        PeakEwma {
            estimate_ns: nanos(initial),
            stamp: None,
        }
    }

    /// Folds in one observed latency at `now`.
    pub fn observe(&mut self, latency: Duration, now: Instant, decay: Duration) {
        let rtt = nanos(latency);
        let current = self.get(now, decay);
        self.estimate_ns = if rtt > current {
            rtt
        } else {
            let w = self.weight(now, decay);
            current * (1.0 - w) + rtt * w
        };
        self.stamp = Some(now);
    }

    /// The estimate at `now`, decayed toward zero since the last observation.
    #[inline]
    pub fn get(&self, now: Instant, decay: Duration) -> f64 {
        self.estimate_ns * (1.0 - self.weight(now, decay))
    }

    /// Weight of a new sample: `1 - e^(-elapsed/tau)`.
    #[inline]
    fn weight(&self, now: Instant, decay: Duration) -> f64 {
        let Some(stamp) = self.stamp else { return 0.0 };
        let elapsed = nanos(now.saturating_duration_since(stamp));
        let tau = nanos(decay).max(1.0);
        1.0 - (-elapsed / tau).exp()
    }

    /// `estimate × (in_flight + 1)`: the p2c cost of sending one more request.
    #[inline]
    pub fn cost(&self, in_flight: u32, now: Instant, decay: Duration) -> f64 {
        self.get(now, decay) * (f64::from(in_flight) + 1.0)
    }
}

fn nanos(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAU: Duration = Duration::from_secs(10);

    #[test]
    fn peaks_jump_and_lows_blend() {
        let t0 = Instant::now();
        let mut e = PeakEwma::new(DEFAULT_RTT);
        e.observe(Duration::from_millis(100), t0, TAU);
        assert_eq!(e.get(t0, TAU), 100e6);
        // A lower sample right away barely moves it.
        e.observe(Duration::from_millis(1), t0 + Duration::from_millis(1), TAU);
        assert!(e.get(t0 + Duration::from_millis(1), TAU) > 99e6);
    }

    #[test]
    fn decays_toward_zero_with_tau() {
        let t0 = Instant::now();
        let mut e = PeakEwma::new(DEFAULT_RTT);
        e.observe(Duration::from_millis(100), t0, TAU);
        let later = e.get(t0 + TAU, TAU);
        assert!((later - 100e6 / std::f64::consts::E).abs() < 1e3, "{later}");
    }

    #[test]
    fn fresh_estimate_holds_the_default() {
        let e = PeakEwma::new(DEFAULT_RTT);
        assert_eq!(e.get(Instant::now(), TAU), 30e6);
        assert_eq!(e.cost(2, Instant::now(), TAU), 90e6);
    }
}
