//! Backends and the eligibility masks the engine hands to a pick.

use std::net::SocketAddr;

/// Index of a backend in its group's list ([`BackendSet::backends`](crate::BackendSet::backends)).
pub type BackendIdx = usize;

/// One upstream server of a group.
///
/// Its identity is `addr`: a reload that keeps the address keeps the
/// backend's state (in-flight count, latency estimate, ejection history).
/// Weight 0 drains the backend: it stays in the set, so requests already on
/// it finish and are counted, but no algorithm picks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Backend {
    /// Where to connect.
    pub addr: SocketAddr,
    /// Relative share of traffic for weight-aware algorithms.
    pub weight: u32,
}

// === impl Backend ===

impl Backend {
    /// A backend with weight 1.
    pub fn new(addr: SocketAddr) -> Self {
        Backend { addr, weight: 1 }
    }

    /// The same backend with another weight.
    pub fn with_weight(self, weight: u32) -> Self {
        Backend { weight, ..self }
    }

    /// Stable bytes of the address (IP octets, then port big-endian), the
    /// input of the Maglev permutation hashes.
    pub(crate) fn addr_bytes(&self) -> ([u8; 18], usize) {
        let mut b = [0u8; 18];
        let n = match self.addr.ip() {
            std::net::IpAddr::V4(ip) => {
                b[..4].copy_from_slice(&ip.octets());
                4
            }
            std::net::IpAddr::V6(ip) => {
                b[..16].copy_from_slice(&ip.octets());
                16
            }
        };
        b[n..n + 2].copy_from_slice(&self.addr.port().to_be_bytes());
        (b, n + 2)
    }
}

/// Which backends a pick may choose, built by the engine from health state.
///
/// An index past the end is never eligible.
pub trait Eligibility {
    /// Whether backend `idx` may be picked.
    fn is_eligible(&self, idx: BackendIdx) -> bool;

    /// Whether any of `0..len` may be picked. Override when a faster answer
    /// exists (a bitset checks whole words).
    fn any_eligible(&self, len: usize) -> bool {
        (0..len).any(|i| self.is_eligible(i))
    }

    /// Whether all of `0..len` are known to be eligible: the common case,
    /// which lets an O(n) algorithm run its loop without a per-backend
    /// check. Answer only when it is cheap to know (a bitset compares whole
    /// words); the default, `false`, means "unknown" and costs only that
    /// shortcut, never a wrong pick.
    fn all_eligible(&self, len: usize) -> bool {
        let _ = len;
        false
    }
}

impl Eligibility for [bool] {
    #[inline]
    fn is_eligible(&self, idx: BackendIdx) -> bool {
        self.get(idx).copied().unwrap_or(false)
    }

    fn all_eligible(&self, len: usize) -> bool {
        self.get(..len).is_some_and(|s| !s.contains(&false))
    }
}

impl Eligibility for Vec<bool> {
    #[inline]
    fn is_eligible(&self, idx: BackendIdx) -> bool {
        self.as_slice().is_eligible(idx)
    }

    fn all_eligible(&self, len: usize) -> bool {
        self.as_slice().all_eligible(len)
    }
}

impl<const N: usize> Eligibility for [bool; N] {
    #[inline]
    fn is_eligible(&self, idx: BackendIdx) -> bool {
        self.as_slice().is_eligible(idx)
    }

    fn all_eligible(&self, len: usize) -> bool {
        self.as_slice().all_eligible(len)
    }
}

impl<E: Eligibility + ?Sized> Eligibility for &E {
    #[inline]
    fn is_eligible(&self, idx: BackendIdx) -> bool {
        (**self).is_eligible(idx)
    }

    fn any_eligible(&self, len: usize) -> bool {
        (**self).any_eligible(len)
    }

    fn all_eligible(&self, len: usize) -> bool {
        (**self).all_eligible(len)
    }
}

/// Every backend is eligible: what a group falls back to when none is.
#[derive(Debug, Clone, Copy, Default)]
pub struct All;

impl Eligibility for All {
    #[inline]
    fn is_eligible(&self, _idx: BackendIdx) -> bool {
        true
    }

    fn any_eligible(&self, len: usize) -> bool {
        len > 0
    }

    fn all_eligible(&self, _len: usize) -> bool {
        true
    }
}

/// A bitset of eligible backends, one bit per backend in `u64` words.
///
/// Reuse one per group and refill it with [`Eligible::reset`] and
/// [`Eligible::set`]; nothing allocates after the first fill.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Eligible {
    words: Vec<u64>,
    len: usize,
}

// === impl Eligible ===

impl Eligible {
    /// `len` backends, all eligible.
    pub fn all(len: usize) -> Self {
        let mut e = Eligible::default();
        e.reset(len, true);
        e
    }

    /// `len` backends, none eligible.
    pub fn none(len: usize) -> Self {
        let mut e = Eligible::default();
        e.reset(len, false);
        e
    }

    /// `len` backends, eligible where `f` says so.
    pub fn from_fn(len: usize, f: impl Fn(BackendIdx) -> bool) -> Self {
        let mut e = Eligible::default();
        e.fill(len, f);
        e
    }

    /// Resizes to `len` backends, all set to `value`.
    pub fn reset(&mut self, len: usize, value: bool) {
        self.len = len;
        self.words.clear();
        self.words
            .resize(len.div_ceil(64), if value { u64::MAX } else { 0 });
        if let (true, Some(last), r) = (value, self.words.last_mut(), len % 64) {
            if r != 0 {
                *last = (1u64 << r) - 1;
            }
        }
    }

    /// Refills for `len` backends from `f` (for instance "not ejected and
    /// healthy"), reusing the allocation: one `Eligible` per group and shard
    /// serves every request.
    pub fn fill(&mut self, len: usize, f: impl Fn(BackendIdx) -> bool) {
        self.len = len;
        self.words.clear();
        self.words.resize(len.div_ceil(64), 0);
        for (w, word) in self.words.iter_mut().enumerate() {
            let base = w * 64;
            for bit in 0..(len - base).min(64) {
                *word |= u64::from(f(base + bit)) << bit;
            }
        }
    }

    /// Marks backend `idx`; an index past the end is ignored.
    pub fn set(&mut self, idx: BackendIdx, eligible: bool) {
        if idx >= self.len {
            return;
        }
        let (w, bit) = (idx / 64, 1u64 << (idx % 64));
        if eligible {
            self.words[w] |= bit;
        } else {
            self.words[w] &= !bit;
        }
    }

    /// Number of backends covered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it covers no backends.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of eligible backends.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
}

impl Eligibility for Eligible {
    #[inline]
    fn is_eligible(&self, idx: BackendIdx) -> bool {
        self.words
            .get(idx / 64)
            .is_some_and(|w| w & (1u64 << (idx % 64)) != 0)
    }

    fn any_eligible(&self, len: usize) -> bool {
        let len = len.min(self.len);
        let (full, tail) = (len / 64, tail_mask(len));
        self.words[..full].iter().any(|&w| w != 0)
            || self.words.get(full).is_some_and(|&w| w & tail != 0)
    }

    fn all_eligible(&self, len: usize) -> bool {
        if len > self.len {
            return false;
        }
        let (full, tail) = (len / 64, tail_mask(len));
        self.words[..full].iter().all(|&w| w == u64::MAX)
            && self.words.get(full).is_none_or(|&w| w & tail == tail)
    }
}

/// The bits of the last, partial word of a `len`-bit set (0 when whole).
#[inline]
fn tail_mask(len: usize) -> u64 {
    (1u64 << (len % 64)) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitset_tracks_bits() {
        let mut e = Eligible::all(70);
        assert_eq!(e.count(), 70);
        assert!(e.is_eligible(69) && !e.is_eligible(70));
        e.set(3, false);
        e.set(500, true);
        assert!(!e.is_eligible(3));
        assert_eq!(e.count(), 69);
        assert!(Eligible::all(130).all_eligible(130) && !Eligible::all(130).all_eligible(131));
        assert!(!e.all_eligible(70) && e.all_eligible(3));
        let n = Eligible::none(130);
        assert!(!n.any_eligible(130));
        let mut one = Eligible::all(3);
        one.fill(130, |i| i == 129);
        assert_eq!(one, Eligible::from_fn(130, |i| i == 129));
        assert!(one.any_eligible(130) && !one.any_eligible(129));
    }

    #[test]
    fn unknown_is_not_all() {
        struct Odd;
        impl Eligibility for Odd {
            fn is_eligible(&self, idx: BackendIdx) -> bool {
                idx % 2 == 1
            }
        }
        assert!(!Odd.all_eligible(0) && Odd.any_eligible(2) && !Odd.any_eligible(1));
    }

    #[test]
    fn slices_past_the_end_are_ineligible() {
        let v = [true, false];
        assert!(v.is_eligible(0) && !v.is_eligible(1) && !v.is_eligible(2));
        assert!(!v[..].any_eligible(0));
        assert!(v[..].all_eligible(1) && !v[..].all_eligible(2) && !v[..].all_eligible(3));
    }
}
