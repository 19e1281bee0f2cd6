//! A tiny deterministic PRNG (SplitMix64), so that initialisation and batch
//! shuffling depend only on the seed, on every platform.

/// SplitMix64 (Steele, Lea & Flood 2014): 64-bit state, full period.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [-a, a), rounded to f32.
    pub fn uniform_sym(&mut self, a: f64) -> f32 {
        ((self.next_f64() * 2.0 - 1.0) * a) as f32
    }

    /// Uniform integer in [0, n) (n > 0), by multiply-shift (tiny bias, deterministic).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}
