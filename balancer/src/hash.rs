//! A fixed-key 64-bit hash for request keys, and a seeded generator.
//!
//! Both are built on the wyhash "mum" step (a 64×64→128-bit multiply whose
//! halves are folded with xor). The keys are constants, so every shard,
//! every host and every restart maps a key to the same value: that is what
//! consistent hashing needs. It is not a defence against hash flooding; the
//! Maglev table has a fixed size, so a flood only skews one backend's load.

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;
const P3: u64 = 0x5899_65cc_7537_4cc3;

/// Seed of [`hash_key`]. Changing it remaps every consistent-hash key.
pub const KEY_SEED: u64 = 0x636f_7265_6761_7465; // "coregate"

#[inline]
fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline]
fn r8(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

#[inline]
fn r4(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u64::from(u32::from_le_bytes(w))
}

/// The last 1..=16 bytes as two words, wyhash's way: fixed-size (possibly
/// overlapping) loads instead of a variable-length copy.
#[inline]
fn tail(b: &[u8]) -> (u64, u64) {
    let n = b.len();
    match n {
        0 => (0, 0),
        1..=3 => (
            (u64::from(b[0]) << 16) | (u64::from(b[n / 2]) << 8) | u64::from(b[n - 1]),
            0,
        ),
        4..=8 => ((r4(b, 0) << 32) | r4(b, n - 4), 0),
        _ => (r8(b, 0), r8(b, n - 8)),
    }
}

/// Hashes `bytes` with an explicit seed. Same input, same seed: same value,
/// on every platform (words are read little-endian).
pub fn hash_with_seed(bytes: &[u8], seed: u64) -> u64 {
    let len = bytes.len() as u64;
    let mut h = seed ^ mum(seed ^ P0, len ^ P1);
    let mut rest = bytes;
    while rest.len() > 16 {
        h = mum(r8(rest, 0) ^ P1, r8(rest, 8) ^ h);
        rest = &rest[16..];
    }
    let (a, b) = tail(rest);
    h = mum(a ^ P2 ^ h, b ^ P3);
    mum(h ^ P0, len ^ P1)
}

/// The stable hash of a request key (client IP, header value, cookie,
/// path): the `hash` argument of [`Selector::pick`](crate::Selector::pick).
pub fn hash_key(bytes: &[u8]) -> u64 {
    hash_with_seed(bytes, KEY_SEED)
}

/// wyrand: a 64-bit generator with one word of state, seeded explicitly so
/// a run can be replayed. Passes BigCrush and PractRand per its author.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

// === impl Rng ===

impl Rng {
    /// A generator from `seed`; give each shard its own seed.
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(P0);
        mum(self.state, self.state ^ P1)
    }

    /// A value in `0..n` (0 when `n` is 0), by Lemire's multiply-shift.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// An index in `0..n`.
    #[inline]
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable() {
        // Pinned: a change here remaps every consistent-hash key in production.
        assert_eq!(hash_key(b""), 0x7f6c_e800_7ab9_5012);
        assert_eq!(hash_key(b"10.0.0.1"), 0x6591_e36d_08e5_c744);
        assert_eq!(hash_key(b"/api/v1/users/42?page=3"), 0xf727_7067_70b3_5846);
        assert_ne!(hash_key(b"a"), hash_key(b"b"));
        assert_ne!(hash_key(b"a"), hash_with_seed(b"a", 1));
        assert_ne!(hash_key(&[0; 8]), hash_key(&[0; 9]));
        assert_ne!(hash_key(&[0; 16]), hash_key(&[0; 17]));
    }

    #[test]
    fn hash_spreads_sequential_keys() {
        let mut buckets = [0u32; 16];
        for i in 0u32..16_000 {
            buckets[(hash_key(&i.to_le_bytes()) % 16) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&b| (900..1100).contains(&b)),
            "{buckets:?}"
        );
    }

    #[test]
    fn single_bit_flips_change_about_half_the_output() {
        // Every tail shape: 1–3, 4–8, 9–16 bytes, and whole blocks.
        for len in [1, 3, 4, 6, 8, 9, 16, 17, 24, 40] {
            let base = vec![7u8; len];
            let h0 = hash_key(&base);
            let mut total = 0;
            for bit in 0..len * 8 {
                let mut b = base.clone();
                b[bit / 8] ^= 1 << (bit % 8);
                total += (hash_key(&b) ^ h0).count_ones();
            }
            let mean = f64::from(total) / (len * 8) as f64;
            assert!(
                (26.0..38.0).contains(&mean),
                "len {len}: mean flipped bits {mean}"
            );
        }
    }

    #[test]
    fn lengths_do_not_collide() {
        let mut seen = std::collections::HashSet::new();
        assert!((0..64).all(|n| seen.insert(hash_key(&vec![0u8; n]))));
    }

    #[test]
    fn rng_is_seeded_and_bounded() {
        let a: Vec<u64> = (0..4)
            .scan(Rng::new(9), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..4)
            .scan(Rng::new(9), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        let mut r = Rng::new(1);
        assert!((0..1000).all(|_| r.below(7) < 7));
        assert_eq!(r.below(0), 0);
    }
}
