//! Adaptive binary range coding: the entropy coder under every hiha stream.
//!
//! A carry-propagating range coder over binary decisions (the LZMA
//! construction), with probabilities that adapt as they code. Each decision
//! is coded with a [`BitModel`], which mixes a fast and a slow estimate of the
//! probability of a zero. On top of it sit helpers for symbols
//! ([`BitTree`]) and for unsigned and signed integers ([`UintModel`],
//! [`IntModel`]) whose magnitude class is modelled adaptively and whose low
//! bits are coded raw.
//!
//! Pure Rust, no allocation in the hot path, and safe on hostile input: the
//! decoder reads zeros past the end of its buffer and reports it through
//! [`RangeDecoder::overrun`], so callers turn truncation into an error.

const TOP: u32 = 1 << 24;
const PROB_BITS: u32 = 16;
const PROB_ONE: u32 = 1 << PROB_BITS;

/// The adaptive probability of one binary decision.
#[derive(Debug, Clone, Copy)]
pub struct BitModel {
    fast: u16,
    slow: u16,
}

impl Default for BitModel {
    fn default() -> Self {
        Self::new()
    }
}

impl BitModel {
    const FAST: u32 = 4;
    const SLOW: u32 = 7;

    /// A model that starts at probability `p0` of a zero, in units of 2^-16
    /// (kept within the range [`BitModel::new`]'s updates can reach).
    pub const fn with_p0(p0: u16) -> Self {
        let p0 = if p0 < 1024 {
            1024
        } else if p0 > 64512 {
            64512
        } else {
            p0
        };
        Self { fast: p0, slow: p0 }
    }

    /// A model that starts at probability 1/2.
    pub const fn new() -> Self {
        Self {
            fast: (PROB_ONE / 2) as u16,
            slow: (PROB_ONE / 2) as u16,
        }
    }

    /// Probability of a zero, in units of 2^-16, always in [15, 65521].
    #[inline]
    fn p0(&self) -> u32 {
        (self.fast as u32 + self.slow as u32) >> 1
    }

    #[inline]
    fn update(&mut self, bit: bool) {
        if bit {
            self.fast -= self.fast >> Self::FAST;
            self.slow -= self.slow >> Self::SLOW;
        } else {
            self.fast += ((PROB_ONE - self.fast as u32) >> Self::FAST) as u16;
            self.slow += ((PROB_ONE - self.slow as u32) >> Self::SLOW) as u16;
        }
    }

    /// [`BitModel::update`] with the decision as an all-ones or all-zeros
    /// mask: no branch, for decisions the caller does not branch on.
    #[inline(always)]
    fn update_masked(&mut self, mask: u32) {
        let (f, s) = (self.fast as u32, self.slow as u32);
        let f1 = f - (f >> Self::FAST);
        let f0 = f + ((PROB_ONE - f) >> Self::FAST);
        let s1 = s - (s >> Self::SLOW);
        let s0 = s + ((PROB_ONE - s) >> Self::SLOW);
        self.fast = (f0 ^ ((f0 ^ f1) & mask)) as u16;
        self.slow = (s0 ^ ((s0 ^ s1) & mask)) as u16;
    }

    /// The cost in bits of coding `bit` with this model now (for estimates).
    pub fn cost(&self, bit: bool) -> f64 {
        let p0 = self.p0() as f64 / PROB_ONE as f64;
        -(if bit { 1.0 - p0 } else { p0 }).log2()
    }
}

/// Range encoder writing to a byte vector.
#[derive(Debug, Clone)]
pub struct RangeEncoder {
    low: u64,
    range: u32,
    cache: u8,
    cache_size: u64,
    out: Vec<u8>,
}

impl Default for RangeEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl RangeEncoder {
    pub fn new() -> Self {
        Self {
            low: 0,
            range: u32::MAX,
            cache: 0,
            cache_size: 1,
            out: Vec::new(),
        }
    }

    #[inline]
    fn shift_low(&mut self) {
        if (self.low as u32) < 0xFF00_0000 || (self.low >> 32) != 0 {
            let carry = (self.low >> 32) as u8;
            let mut temp = self.cache;
            loop {
                self.out.push(temp.wrapping_add(carry));
                temp = 0xFF;
                self.cache_size -= 1;
                if self.cache_size == 0 {
                    break;
                }
            }
            self.cache = ((self.low >> 24) & 0xFF) as u8;
        }
        self.cache_size += 1;
        self.low = (self.low & 0x00FF_FFFF) << 8;
    }

    /// Codes one decision with an adaptive model.
    #[inline]
    pub fn encode_bit(&mut self, model: &mut BitModel, bit: bool) {
        let bound = (self.range >> PROB_BITS) * model.p0();
        // Selects, not branches: the decision is often unpredictable.
        let mask = u32::from(bit).wrapping_neg();
        self.low += (bound & mask) as u64;
        self.range = (bound & !mask) | (self.range.wrapping_sub(bound) & mask);
        model.update_masked(mask);
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    /// Codes one decision with a probability given by the caller: `p0`, the
    /// probability of a zero in units of 2^-16, must lie in [1, 65535]
    /// (models that predict outside of [`BitModel`], e.g. mixed predictions).
    #[inline]
    pub fn encode_with_p0(&mut self, p0: u32, bit: bool) {
        debug_assert!((1..PROB_ONE).contains(&p0));
        let bound = (self.range >> PROB_BITS) * p0;
        if bit {
            self.low += bound as u64;
            self.range -= bound;
        } else {
            self.range = bound;
        }
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    /// Codes the low `nbits` bits of `value` (at most 32) with probability 1/2 each.
    pub fn encode_direct(&mut self, value: u32, nbits: u32) {
        for i in (0..nbits).rev() {
            self.range >>= 1;
            let mask = ((value >> i) & 1).wrapping_neg();
            self.low += (self.range & mask) as u64;
            while self.range < TOP {
                self.range <<= 8;
                self.shift_low();
            }
        }
    }

    /// Codes `value` (below 2^`nbits`, `nbits` ≤ 16) as one equiprobable
    /// symbol of 2^`nbits`: one step of the coder instead of one per bit
    /// (not the same bytes as [`RangeEncoder::encode_direct`]).
    #[inline]
    pub fn encode_bits(&mut self, value: u32, nbits: u32) {
        debug_assert!(nbits <= 16 && (nbits == 32 || value >> nbits == 0));
        // At least TOP before, so at least 2^8 after.
        self.range >>= nbits;
        self.low += value as u64 * self.range as u64;
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    /// Flushes and returns the coded bytes.
    pub fn finish(mut self) -> Vec<u8> {
        for _ in 0..5 {
            self.shift_low();
        }
        self.out
    }

    /// Bytes written so far (a lower bound of the final size).
    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }
}

/// Range decoder over a byte slice.
#[derive(Debug, Clone)]
pub struct RangeDecoder<'a> {
    code: u32,
    range: u32,
    data: &'a [u8],
    pos: usize,
    overrun: usize,
}

impl<'a> RangeDecoder<'a> {
    /// Starts decoding `data` as produced by [`RangeEncoder::finish`].
    pub fn new(data: &'a [u8]) -> Self {
        let mut d = Self {
            code: 0,
            range: u32::MAX,
            data,
            pos: 0,
            overrun: 0,
        };
        // The first byte is the encoder's initial cache, always 0.
        let _ = d.next_byte();
        for _ in 0..4 {
            d.code = (d.code << 8) | d.next_byte() as u32;
        }
        d
    }

    #[inline]
    fn next_byte(&mut self) -> u8 {
        match self.data.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => {
                self.overrun += 1;
                0
            }
        }
    }

    /// True when the decoder has read past the end of its input by more than
    /// the coder's own flush slack: the stream was truncated or corrupt.
    pub fn overrun(&self) -> bool {
        self.overrun > 0
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    #[inline]
    pub fn decode_bit(&mut self, model: &mut BitModel) -> bool {
        let bit = self.decode_with_p0(model.p0());
        model.update(bit);
        bit
    }

    /// Decodes a decision coded by [`RangeEncoder::encode_with_p0`] with
    /// the same `p0`.
    #[inline]
    pub fn decode_with_p0(&mut self, p0: u32) -> bool {
        let bound = (self.range >> PROB_BITS) * p0;
        let bit = if self.code < bound {
            self.range = bound;
            false
        } else {
            self.code -= bound;
            self.range -= bound;
            true
        };
        while self.range < TOP {
            self.range <<= 8;
            self.code = (self.code << 8) | self.next_byte() as u32;
        }
        bit
    }

    /// Decodes `nbits` (at most 32) equiprobable bits.
    /// [`RangeDecoder::decode_bit`] without a branch on the decision, for
    /// decisions that only steer an index (bit trees, mantissas): the same
    /// result, faster where the decision is hard to predict.
    #[inline(always)]
    pub fn decode_bit_select(&mut self, model: &mut BitModel) -> u32 {
        let bound = (self.range >> PROB_BITS) * model.p0();
        let bit = u32::from(self.code >= bound);
        let mask = bit.wrapping_neg();
        self.code -= bound & mask;
        self.range = (bound & !mask) | (self.range.wrapping_sub(bound) & mask);
        model.update_masked(mask);
        while self.range < TOP {
            self.range <<= 8;
            self.code = (self.code << 8) | self.next_byte() as u32;
        }
        bit
    }

    /// Decodes a value coded by [`RangeEncoder::encode_bits`] with the same
    /// `nbits` (at most 16). A corrupt stream gives some value below
    /// 2^`nbits`, never a panic.
    #[inline]
    pub fn decode_bits(&mut self, nbits: u32) -> u32 {
        debug_assert!(nbits <= 16);
        self.range >>= nbits;
        let v = (self.code / self.range).min((1u32 << nbits) - 1);
        self.code -= v * self.range;
        while self.range < TOP {
            self.range <<= 8;
            self.code = (self.code << 8) | self.next_byte() as u32;
        }
        v
    }

    pub fn decode_direct(&mut self, nbits: u32) -> u32 {
        let mut v = 0u32;
        for _ in 0..nbits {
            self.range >>= 1;
            // Raw bits are random: a select, not a branch the CPU would
            // mispredict half the time.
            let bit = u32::from(self.code >= self.range);
            self.code -= self.range & bit.wrapping_neg();
            v = (v << 1) | bit;
            // The range was at least TOP before the halving, so one byte
            // restores it.
            if self.range < TOP {
                self.range <<= 8;
                self.code = (self.code << 8) | self.next_byte() as u32;
            }
        }
        v
    }
}

/// Adaptive model of an `nbits`-bit symbol, coded MSB first as a binary tree.
#[derive(Debug, Clone)]
pub struct BitTree {
    nbits: u32,
    models: Vec<BitModel>,
}

impl BitTree {
    pub fn new(nbits: u32) -> Self {
        assert!(nbits <= 16, "BitTree supports at most 16 bits");
        Self {
            nbits,
            models: vec![BitModel::new(); 1 << nbits],
        }
    }

    /// A tree whose node `k` (1 ≤ k < 2^nbits, the root is 1) starts at
    /// probability `p0[k]` of a zero (see [`BitModel::with_p0`]).
    pub fn with_p0(nbits: u32, p0: &[u16]) -> Self {
        let mut t = Self::new(nbits);
        for (m, &p) in t.models.iter_mut().zip(p0).skip(1) {
            *m = BitModel::with_p0(p);
        }
        t
    }

    pub fn encode(&mut self, enc: &mut RangeEncoder, symbol: u32) {
        let mut node = 1usize;
        for i in (0..self.nbits).rev() {
            let bit = (symbol >> i) & 1 == 1;
            enc.encode_bit(&mut self.models[node], bit);
            node = (node << 1) | bit as usize;
        }
    }

    pub fn decode(&mut self, dec: &mut RangeDecoder) -> u32 {
        let mut node = 1usize;
        for _ in 0..self.nbits {
            let bit = dec.decode_bit_select(&mut self.models[node]);
            node = (node << 1) | bit as usize;
        }
        (node - (1 << self.nbits)) as u32
    }
}

/// Adaptive model of an unsigned integer up to 2^32 − 1.
///
/// The value's bit length (0 for zero) is coded with a [`BitTree`]; the
/// `modelled` bits just below the leading one are coded with adaptive models
/// per bit length; the remaining low bits are coded raw.
#[derive(Debug, Clone)]
pub struct UintModel {
    length: BitTree,
    mantissa: Vec<BitModel>,
    modelled: u32,
}

impl Default for UintModel {
    fn default() -> Self {
        Self::new()
    }
}

impl UintModel {
    const MODELLED: u32 = 2;

    pub fn new() -> Self {
        let m = Self::MODELLED;
        Self {
            length: BitTree::new(6),
            mantissa: vec![BitModel::new(); 33 << m],
            modelled: m,
        }
    }

    /// A model whose bit-length tree starts at the probabilities `p0` (per
    /// node, see [`BitTree::with_p0`]).
    pub fn with_length_p0(p0: &[u16; 64]) -> Self {
        Self {
            length: BitTree::with_p0(6, p0),
            ..Self::new()
        }
    }

    pub fn encode(&mut self, enc: &mut RangeEncoder, v: u32) {
        let len = 32 - v.leading_zeros();
        self.length.encode(enc, len);
        if len <= 1 {
            return;
        }
        let below = len - 1; // bits after the leading one
        let m = self.modelled.min(below);
        let mut node = 1usize;
        for i in 0..m {
            let bit = (v >> (below - 1 - i)) & 1 == 1;
            let idx = ((len as usize) << self.modelled) + node;
            enc.encode_bit(&mut self.mantissa[idx], bit);
            node = (node << 1) | bit as usize;
        }
        let raw = below - m;
        if raw > 0 {
            enc.encode_direct(v & ((1u32 << raw) - 1), raw);
        }
    }

    pub fn decode(&mut self, dec: &mut RangeDecoder) -> u32 {
        let len = self.length.decode(dec).min(32);
        if len == 0 {
            return 0;
        }
        if len == 1 {
            return 1;
        }
        let below = len - 1;
        let m = self.modelled.min(below);
        let mut node = 1usize;
        for _ in 0..m {
            let idx = ((len as usize) << self.modelled) + node;
            let bit = dec.decode_bit_select(&mut self.mantissa[idx]);
            node = (node << 1) | bit as usize;
        }
        let high = (node - (1 << m)) as u32;
        let raw = below - m;
        let low = if raw > 0 { dec.decode_direct(raw) } else { 0 };
        let top = 1u32.checked_shl(below).unwrap_or(0);
        top | (high << raw) | low
    }
}

/// Plain bits outside the range coder (MSB first), for the equiprobable low
/// bits of magnitudes: the wavelet coder's segmented streams (format 2.3)
/// keep them in a buffer of their own, read without the range coder's
/// arithmetic.
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes the low `nbits` bits of `value` (at most 32).
    #[inline]
    pub fn put(&mut self, value: u32, nbits: u32) {
        if nbits == 0 {
            return;
        }
        let v = value as u64 & ((1u64 << nbits) - 1);
        self.acc = (self.acc << nbits) | v;
        self.n += nbits;
        while self.n >= 8 {
            self.n -= 8;
            self.out.push((self.acc >> self.n) as u8);
        }
    }

    /// The bytes, the last one padded with zeros.
    pub fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push((self.acc << (8 - self.n)) as u8);
        }
        self.out
    }
}

/// Reads what [`BitWriter`] wrote. Past the end it reads zeros and
/// remembers it ([`BitReader::overrun`]).
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Bits not yet consumed, aligned to the top.
    acc: u64,
    /// How many of them are valid.
    n: u32,
    /// Bits read past the end.
    past: u64,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            acc: 0,
            n: 0,
            past: 0,
        }
    }

    #[inline]
    fn refill(&mut self) {
        if let Some(c) = self.data.get(self.pos..self.pos + 8) {
            // The next 8 bytes under the valid bits; the bits past the
            // whole bytes taken are the right ones too, and OR-ing them in
            // again later changes nothing. `n` < 32 here.
            let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.acc |= w >> self.n;
            let take = (63 - self.n) >> 3;
            self.pos += take as usize;
            self.n += 8 * take;
        } else {
            while self.n <= 56 {
                let b = match self.data.get(self.pos) {
                    Some(&b) => {
                        self.pos += 1;
                        b
                    }
                    None => {
                        self.past += 8;
                        0
                    }
                };
                self.acc |= (b as u64) << (56 - self.n);
                self.n += 8;
            }
        }
    }

    /// Reads `nbits` bits (at most 32).
    #[inline]
    pub fn get(&mut self, nbits: u32) -> u32 {
        if nbits == 0 {
            return 0;
        }
        if self.n < nbits {
            self.refill();
        }
        let v = (self.acc >> (64 - nbits)) as u32;
        self.acc <<= nbits;
        self.n -= nbits;
        v
    }

    /// True when more bits were consumed than the buffer holds.
    pub fn overrun(&self) -> bool {
        // Zero bytes appended past the end are only consumed in part; the
        // reader overran when the bits consumed exceed the real ones.
        self.past > 0 && self.past > self.n as u64
    }
}

impl UintModel {
    /// [`UintModel::encode`] for values below 2^31, with the bit length's
    /// always-zero top decision left out and the raw low bits written to
    /// `raw` (the segmented wavelet streams of format 2.3).
    pub fn encode_split(&mut self, enc: &mut RangeEncoder, raw: &mut BitWriter, v: u32) {
        debug_assert!(v < 1 << 31);
        let len = 32 - v.leading_zeros();
        let mut node = 2usize;
        for i in (0..5).rev() {
            let bit = (len >> i) & 1 == 1;
            enc.encode_bit(&mut self.length.models[node], bit);
            node = (node << 1) | bit as usize;
        }
        if len <= 1 {
            return;
        }
        let below = len - 1;
        let m = self.modelled.min(below);
        let mut node = 1usize;
        for i in 0..m {
            let bit = (v >> (below - 1 - i)) & 1 == 1;
            let idx = ((len as usize) << self.modelled) + node;
            enc.encode_bit(&mut self.mantissa[idx], bit);
            node = (node << 1) | bit as usize;
        }
        raw.put(v, below - m);
    }

    /// Decodes what [`UintModel::encode_split`] wrote (at most 2^31 − 1).
    #[inline]
    pub fn decode_split(&mut self, dec: &mut RangeDecoder, raw: &mut BitReader) -> u32 {
        let mut node = 2usize;
        for _ in 0..5 {
            let bit = dec.decode_bit_select(&mut self.length.models[node]);
            node = (node << 1) | bit as usize;
        }
        let len = (node - 64) as u32;
        if len <= 1 {
            return len;
        }
        let below = len - 1;
        let m = self.modelled.min(below);
        let mut node = 1usize;
        for _ in 0..m {
            let idx = ((len as usize) << self.modelled) + node;
            let bit = dec.decode_bit_select(&mut self.mantissa[idx]);
            node = (node << 1) | bit as usize;
        }
        let high = (node - (1 << m)) as u32;
        let rawn = below - m;
        let low = raw.get(rawn);
        (1u32 << below) | (high << rawn) | low
    }
}

/// Adaptive model of a signed integer: a zero flag, a sign, and a magnitude.
#[derive(Debug, Clone, Default)]
pub struct IntModel {
    zero: BitModel,
    sign: BitModel,
    magnitude: UintModel,
}

impl IntModel {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn encode(&mut self, enc: &mut RangeEncoder, v: i32) {
        enc.encode_bit(&mut self.zero, v != 0);
        if v == 0 {
            return;
        }
        enc.encode_bit(&mut self.sign, v < 0);
        self.magnitude.encode(enc, v.unsigned_abs() - 1);
    }

    pub fn decode(&mut self, dec: &mut RangeDecoder) -> i32 {
        if !dec.decode_bit(&mut self.zero) {
            return 0;
        }
        let neg = dec.decode_bit(&mut self.sign);
        let mag = self.magnitude.decode(dec).wrapping_add(1);
        let mag = mag.min(i32::MAX as u32) as i32;
        if neg {
            -mag
        } else {
            mag
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(state: &mut u64) -> u64 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *state >> 33
    }

    #[test]
    fn multi_bit_symbols_round_trip_between_modelled_decisions() {
        let mut s = 3u64;
        let items: Vec<(u32, u32, bool)> = (0..50_000)
            .map(|_| {
                let n = (lcg(&mut s) % 17) as u32;
                let v = if n == 0 {
                    0
                } else {
                    (lcg(&mut s) as u32) & ((1 << n) - 1)
                };
                (n, v, lcg(&mut s).is_multiple_of(5))
            })
            .collect();
        let mut enc = RangeEncoder::new();
        let mut m = BitModel::new();
        let mut raw_bits = 0u64;
        for &(n, v, b) in &items {
            enc.encode_bits(v, n);
            enc.encode_bit(&mut m, b);
            raw_bits += n as u64;
        }
        let bytes = enc.finish();
        // The raw bits cost what they are, plus the skewed decisions.
        assert!((bytes.len() as f64) < (raw_bits as f64 + 50_000.0 * 0.75) / 8.0 * 1.01);
        let mut dec = RangeDecoder::new(&bytes);
        let mut m = BitModel::new();
        for &(n, v, b) in &items {
            assert_eq!(dec.decode_bits(n), v);
            assert_eq!(dec.decode_bit(&mut m), b);
        }
        assert!(!dec.overrun());
        // Garbage decodes to values in range, without a panic.
        let junk: Vec<u8> = (0..64).map(|_| lcg(&mut s) as u8).collect();
        let mut dec = RangeDecoder::new(&junk);
        for n in (0..=16).cycle().take(200) {
            assert!(dec.decode_bits(n) < (1u32 << n));
        }
    }

    #[test]
    fn bits_round_trip_and_compress_skewed_sources() {
        let mut s = 7u64;
        let bits: Vec<bool> = (0..100_000)
            .map(|_| lcg(&mut s).is_multiple_of(10))
            .collect();
        let mut enc = RangeEncoder::new();
        let mut m = BitModel::new();
        for &b in &bits {
            enc.encode_bit(&mut m, b);
        }
        let bytes = enc.finish();
        // Entropy of p=0.1 is 0.469 bits; allow 3% overhead.
        assert!(
            (bytes.len() as f64) < 100_000.0 * 0.469 / 8.0 * 1.03,
            "{}",
            bytes.len()
        );
        let mut dec = RangeDecoder::new(&bytes);
        let mut m = BitModel::new();
        for &b in &bits {
            assert_eq!(dec.decode_bit(&mut m), b);
        }
        assert!(!dec.overrun());
    }

    #[test]
    fn integers_round_trip_including_extremes() {
        let mut s = 3u64;
        let mut vals: Vec<i32> = (0..20_000)
            .map(|_| {
                let r = lcg(&mut s);
                let scale = 1i64 << (r % 20);
                ((lcg(&mut s) as i64 % (2 * scale + 1)) - scale) as i32
            })
            .collect();
        vals.extend([0, 1, -1, i32::MAX, i32::MIN + 1, 1 << 30, -(1 << 30)]);
        let uvals: Vec<u32> = vec![0, 1, 2, 3, u32::MAX, 1 << 31, 12345];
        let mut enc = RangeEncoder::new();
        let mut im = IntModel::new();
        let mut um = UintModel::new();
        for &v in &vals {
            im.encode(&mut enc, v);
        }
        for &v in &uvals {
            um.encode(&mut enc, v);
        }
        enc.encode_direct(0xDEAD_BEEF, 32);
        let bytes = enc.finish();
        let mut dec = RangeDecoder::new(&bytes);
        let mut im = IntModel::new();
        let mut um = UintModel::new();
        for &v in &vals {
            assert_eq!(im.decode(&mut dec), v);
        }
        for &v in &uvals {
            assert_eq!(um.decode(&mut dec), v);
        }
        assert_eq!(dec.decode_direct(32), 0xDEAD_BEEF);
        assert!(!dec.overrun());
    }

    #[test]
    fn truncation_is_detected_and_garbage_never_panics() {
        let mut enc = RangeEncoder::new();
        let mut um = UintModel::new();
        for v in 0..5000u32 {
            um.encode(&mut enc, v * 7919);
        }
        let bytes = enc.finish();
        let mut dec = RangeDecoder::new(&bytes[..bytes.len() / 2]);
        let mut um = UintModel::new();
        for _ in 0..5000 {
            um.decode(&mut dec);
        }
        assert!(dec.overrun());
        let garbage: Vec<u8> = (0..300u32).map(|i| (i * 37 % 251) as u8).collect();
        let mut dec = RangeDecoder::new(&garbage);
        let mut im = IntModel::new();
        for _ in 0..2000 {
            im.decode(&mut dec);
        }
    }
}
