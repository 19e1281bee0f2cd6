//! Header coding 2: a context-mixing byte model (format 2.4).
//!
//! Each byte is coded as eight binary decisions, most significant bit
//! first. Every decision is predicted by several context models, whose
//! predictions a small logistic mixer combines (the design of the PAQ
//! family, in its simplest form):
//!
//! | input | context |
//! |---|---|
//! | order 0 | the bits of the current byte seen so far |
//! | order 1 | the previous byte, and those bits |
//! | orders 2, 3 | a hash of the previous 2 or 3 bytes, and those bits |
//! | word | a hash of the letters, digits and underscores since the last other byte |
//! | match | the byte that followed the latest earlier occurrence of the last [`MATCH_MIN`] bytes (in the primer or the header so far), trusted by how long that match has run |
//!
//! The tables are hashed without checks; collisions only cost bytes.
//! Everything is integer arithmetic, so encoder and decoder agree bit for
//! bit on every machine. The models first learn [`super::primer::PRIMER_2`]
//! (a fixed text of CF/GRIB header vocabulary in the header's own layout);
//! that state is computed once per process; each header works on a copy
//! that is reset to it afterwards by restoring the slots the header wrote.
//!
//! A header is a kilobyte or two: the primer is what makes a model with
//! this many contexts pay on so little text.

use std::sync::OnceLock;

use crate::entropy::{RangeDecoder, RangeEncoder};

/// Table size (log2) of each hashed context model.
const HASH_BITS: u32 = 16;
/// The orders of the hashed byte contexts.
const ORDERS: [usize; 2] = [2, 3];
/// Bytes a match must share before the match model predicts from it.
const MATCH_MIN: usize = 5;
/// Table size (log2) of the match model's positions.
const MATCH_BITS: u32 = 14;
/// Number of mixer inputs: order 0, order 1, the hashed orders, word,
/// match, and a constant.
const INPUTS: usize = 2 + ORDERS.len() + 2 + 1;
/// Mixer weight sets, selected by the match length.
const WEIGHT_SETS: usize = 4;
/// Adaptation limit of the counters (their rate falls as 1/(n + 1.5) to
/// 1/(LIMIT + 1.5)).
const LIMIT: u32 = 60;
/// Mixer learning rate.
const LEARNING_RATE: i32 = 20;

/// `4096 / (1 + e^(-d/256))` for `d` in [-2047, 2047], by interpolation in a
/// 33-point table (integer, so the same everywhere).
fn squash(d: i32) -> i32 {
    const T: [i32; 33] = [
        1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047, 2549, 2994,
        3348, 3607, 3785, 3901, 3975, 4022, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094,
    ];
    if d > 2047 {
        return 4095;
    }
    if d < -2047 {
        return 1;
    }
    let w = d & 127;
    let i = ((d >> 7) + 16) as usize;
    (T[i] * (128 - w) + T[i + 1] * w + 64) >> 7
}

/// The inverse of [`squash`]: `ln(p / (1 − p))` scaled by 256, for a 12-bit
/// probability `p`.
fn stretch(p: u32) -> i32 {
    static TABLE: OnceLock<Vec<i16>> = OnceLock::new();
    let t = TABLE.get_or_init(|| {
        let mut t = vec![2047i16; 4096];
        let mut next = 0usize;
        for x in -2047..=2047 {
            let v = squash(x) as usize;
            for slot in t.iter_mut().take(v + 1).skip(next) {
                *slot = x as i16;
            }
            next = next.max(v + 1);
        }
        t
    });
    t[p.min(4095) as usize] as i32
}

/// The counters' adaptation rates: 1 / (n + 1.5) in units of 2^-16.
const RATES: [i32; LIMIT as usize + 1] = {
    let mut t = [0i32; LIMIT as usize + 1];
    let mut n = 0;
    while n <= LIMIT as usize {
        t[n] = 131_072 / (2 * n as i32 + 3);
        n += 1;
    }
    t
};

/// An adaptive probability: the high 16 bits are P(1) in units of 2^-16,
/// the low 16 bits count the updates (up to [`LIMIT`]).
#[derive(Clone, Copy)]
struct Counter(u32);

impl Counter {
    const NEW: Counter = Counter(0x8000 << 16);

    #[inline]
    fn p12(self) -> u32 {
        (self.0 >> 20).clamp(1, 4095)
    }

    #[inline]
    fn update(&mut self, bit: bool) {
        let p = (self.0 >> 16) as i32;
        let n = self.0 & 0xFFFF;
        let target = if bit { 65535 } else { 0 };
        let rate = RATES[n as usize];
        let p = p + (((target - p) * rate) >> 16);
        self.0 = ((p.clamp(0, 65535) as u32) << 16) | (n + 1).min(LIMIT);
    }
}

/// The whole model state; see the module docs.
#[derive(Clone)]
pub(super) struct Mixing {
    order0: Vec<Counter>,
    order1: Vec<Counter>,
    hashed: Vec<Vec<Counter>>,
    word: Vec<Counter>,
    match_conf: Vec<Counter>,
    weights: Vec<[i32; INPUTS]>,
    /// Bytes seen (primer first), for the match model.
    history: Vec<u8>,
    match_table: Vec<u32>,
    match_ptr: usize,
    match_len: usize,
    /// The current byte's bits so far, behind a leading 1.
    c0: u32,
    /// Per hashed order, the context hash at the start of the byte.
    order_hash: [u32; ORDERS.len()],
    word_hash: u32,
    // Per decision: the slots used and the inputs given.
    slots: [usize; INPUTS],
    inputs: [i32; INPUTS],
    expected: Option<bool>,
    set: usize,
    p12: i32,
    /// The table slots written since the model was a copy of the primed
    /// state: [`Mixing::reset_from`] restores only those. Past
    /// [`JOURNAL_MAX`] entries (a header of about 5 KB) the journal is
    /// dropped and `overflowed` set: the reset then copies every table.
    touched: Vec<(Table, u32)>,
    overflowed: bool,
}

/// Journal entries kept before [`Mixing::reset_from`] falls back to a
/// whole copy (2 MiB of journal: a header byte writes 41–49 slots, so
/// headers up to about 5 KB).
const JOURNAL_MAX: usize = 1 << 18;

/// The tables of [`Mixing`] whose writes [`Mixing::touched`] records.
#[derive(Clone, Copy)]
enum Table {
    Order0,
    Order1,
    Hashed(u8),
    Word,
    MatchConf,
    MatchSlots,
}

#[inline]
fn slot_of(hash: u32, c0: u32) -> usize {
    (hash ^ c0.wrapping_mul(0x2F0B_3A49)).wrapping_mul(0x9E37_79B1) as usize >> (32 - HASH_BITS)
}

impl Mixing {
    fn new() -> Self {
        Self {
            order0: vec![Counter::NEW; 256],
            order1: vec![Counter::NEW; 1 << 16],
            hashed: vec![vec![Counter::NEW; 1 << HASH_BITS]; ORDERS.len()],
            word: vec![Counter::NEW; 1 << HASH_BITS],
            match_conf: vec![Counter::NEW; 64],
            weights: vec![[1 << 14; INPUTS]; WEIGHT_SETS],
            history: Vec::new(),
            match_table: vec![0; 1 << MATCH_BITS],
            match_ptr: 0,
            match_len: 0,
            c0: 1,
            order_hash: [0; ORDERS.len()],
            word_hash: 0,
            slots: [0; INPUTS],
            inputs: [0; INPUTS],
            expected: None,
            set: 0,
            p12: 2048,
            touched: Vec::new(),
            overflowed: false,
        }
    }

    /// Runs `f` on a model that has learnt the primer. The primed state is
    /// computed once per process; each thread keeps a working copy that is
    /// reset from it in place ([`Mixing::reset_from`]: a fresh 1.1 MB copy
    /// costs page faults, and even a copy into the same memory 0.9 ms).
    pub(super) fn with_primed<R>(f: impl FnOnce(&mut Mixing) -> R) -> R {
        static PRIMED: OnceLock<Mixing> = OnceLock::new();
        thread_local! {
            static WORK: std::cell::RefCell<Option<Mixing>> = const { std::cell::RefCell::new(None) };
        }
        let primed = PRIMED.get_or_init(|| {
            let mut m = Mixing::new();
            for &b in super::primer::PRIMER_2 {
                for i in (0..8).rev() {
                    m.predict();
                    m.update((b >> i) & 1 == 1);
                }
            }
            m.touched = Vec::new();
            m.overflowed = false;
            m
        });
        WORK.with(|work| {
            // Not re-entrant (f never codes another header), but a nested
            // call would simply get its own copy.
            match work.try_borrow_mut() {
                Ok(mut slot) => {
                    let m = match slot.as_mut() {
                        Some(m) => {
                            m.reset_from(primed);
                            m
                        }
                        None => slot.insert(primed.clone()),
                    };
                    f(m)
                }
                Err(_) => f(&mut primed.clone()),
            }
        })
    }

    /// Becomes a copy of `src` again, this model having been a copy of it
    /// (`src.touched` empty) before the writes in `self.touched`: only the
    /// slots written are copied back (a whole copy moves 1.1 MB a header,
    /// 0.9 ms on the 2-core machine; a header writes 5–6 slots a bit), or
    /// every table after a header too long to journal.
    fn reset_from(&mut self, src: &Mixing) {
        debug_assert!(src.touched.is_empty() && !src.overflowed);
        if self.overflowed {
            self.order0.clone_from(&src.order0);
            self.order1.clone_from(&src.order1);
            self.hashed.clone_from(&src.hashed);
            self.word.clone_from(&src.word);
            self.match_conf.clone_from(&src.match_conf);
            self.match_table.clone_from(&src.match_table);
            self.overflowed = false;
        }
        for (table, slot) in self.touched.drain(..) {
            let i = slot as usize;
            match table {
                Table::Order0 => self.order0[i] = src.order0[i],
                Table::Order1 => self.order1[i] = src.order1[i],
                Table::Hashed(j) => self.hashed[j as usize][i] = src.hashed[j as usize][i],
                Table::Word => self.word[i] = src.word[i],
                Table::MatchConf => self.match_conf[i] = src.match_conf[i],
                Table::MatchSlots => self.match_table[i] = src.match_table[i],
            }
        }
        self.weights.clone_from(&src.weights);
        // The history only grows: its start is still the primer's.
        self.history.truncate(src.history.len());
        self.match_ptr = src.match_ptr;
        self.match_len = src.match_len;
        self.c0 = src.c0;
        self.order_hash = src.order_hash;
        self.word_hash = src.word_hash;
        self.slots = src.slots;
        self.inputs = src.inputs;
        self.expected = src.expected;
        self.set = src.set;
        self.p12 = src.p12;
    }

    fn prev(&self, k: usize) -> u32 {
        let n = self.history.len();
        if n >= k {
            self.history[n - k] as u32
        } else {
            0
        }
    }

    /// Probability (12 bits) that the next decision is a 1.
    fn predict(&mut self) -> u32 {
        let c0 = self.c0;
        let mut k = 0;
        let mut put = |slot: usize, p: u32, inputs: &mut [i32; INPUTS]| {
            inputs[k] = stretch(p);
            k += 1;
            slot
        };
        let mut inputs = [0i32; INPUTS];
        let mut slots = [0usize; INPUTS];
        slots[0] = put(c0 as usize, self.order0[c0 as usize].p12(), &mut inputs);
        let s1 = ((self.prev(1) << 8) | c0) as usize;
        slots[1] = put(s1, self.order1[s1].p12(), &mut inputs);
        for (j, &h) in self.order_hash.iter().enumerate() {
            let s = slot_of(h, c0);
            slots[2 + j] = put(s, self.hashed[j][s].p12(), &mut inputs);
        }
        let w = 2 + ORDERS.len();
        let s = slot_of(self.word_hash, c0);
        slots[w] = put(s, self.word[s].p12(), &mut inputs);
        // Match model: the expected bit, if the match still agrees with the
        // bits of this byte so far.
        self.expected = None;
        let mut conf_slot = 0;
        if self.match_len > 0 {
            let pb = self.history[self.match_ptr] as u32 | 0x100;
            let done = 32 - c0.leading_zeros() - 1; // bits of this byte coded
            if pb >> (8 - done) == c0 {
                let bit = (pb >> (7 - done)) & 1 == 1;
                conf_slot = self.match_len.min(31) * 2 + usize::from(bit);
                let st = stretch(self.match_conf[conf_slot].p12());
                inputs[w + 1] = if bit { st } else { -st };
                self.expected = Some(bit);
            } else {
                self.match_len = 0;
            }
        }
        slots[w + 1] = conf_slot;
        inputs[w + 2] = 256;
        self.set = match self.match_len {
            0 => 0,
            1..=15 => 1,
            16..=31 => 2,
            _ => 3,
        };
        let wt = &self.weights[self.set];
        let dot: i64 = wt
            .iter()
            .zip(&inputs)
            .map(|(&w, &x)| w as i64 * x as i64)
            .sum();
        let p = squash((dot >> 16).clamp(-2047, 2047) as i32);
        self.inputs = inputs;
        self.slots = slots;
        self.p12 = p;
        p as u32
    }

    fn update(&mut self, bit: bool) {
        let err = ((i32::from(bit) << 12) - self.p12) * LEARNING_RATE;
        for (w, &x) in self.weights[self.set].iter_mut().zip(&self.inputs) {
            *w += (x * err + 0x8000) >> 16;
        }
        self.order0[self.slots[0]].update(bit);
        self.order1[self.slots[1]].update(bit);
        for j in 0..ORDERS.len() {
            self.hashed[j][self.slots[2 + j]].update(bit);
        }
        let w = 2 + ORDERS.len();
        self.word[self.slots[w]].update(bit);
        if !self.overflowed {
            // Slots are below 2^16 (HASH_BITS, order 1) and 64: they fit.
            self.touched.extend([
                (Table::Order0, self.slots[0] as u32),
                (Table::Order1, self.slots[1] as u32),
                (Table::Word, self.slots[w] as u32),
            ]);
            for j in 0..ORDERS.len() {
                self.touched
                    .push((Table::Hashed(j as u8), self.slots[2 + j] as u32));
            }
            if self.expected.is_some() {
                self.touched
                    .push((Table::MatchConf, self.slots[w + 1] as u32));
            }
            if self.touched.len() > JOURNAL_MAX {
                // A long header: stop journaling and give the memory back;
                // the next reset copies every table.
                self.touched = Vec::new();
                self.overflowed = true;
            }
        }
        if let Some(e) = self.expected {
            self.match_conf[self.slots[w + 1]].update(bit == e);
            if bit != e {
                self.match_len = 0;
            }
        }
        self.c0 = (self.c0 << 1) | u32::from(bit);
        if self.c0 >= 256 {
            let byte = (self.c0 & 0xFF) as u8;
            self.c0 = 1;
            self.end_byte(byte);
        }
    }

    fn end_byte(&mut self, byte: u8) {
        // The match continues if it predicted this byte.
        if self.match_len > 0 {
            self.match_ptr += 1;
            self.match_len += 1;
        }
        self.history.push(byte);
        let n = self.history.len();
        if n >= MATCH_MIN {
            let mut h = 0u32;
            for &b in &self.history[n - MATCH_MIN..] {
                h = (h ^ b as u32).wrapping_mul(0x0100_0193);
            }
            let h = (h.wrapping_mul(0x9E37_79B1) >> (32 - MATCH_BITS)) as usize;
            if self.match_len == 0 {
                let cand = self.match_table[h] as usize;
                if cand > 0 {
                    let mut len = 0;
                    while len < 32
                        && len < cand
                        && self.history[cand - 1 - len] == self.history[n - 1 - len]
                    {
                        len += 1;
                    }
                    if len >= MATCH_MIN {
                        self.match_len = len;
                        self.match_ptr = cand;
                    }
                }
            }
            self.match_table[h] = n as u32;
            if !self.overflowed {
                self.touched.push((Table::MatchSlots, h as u32));
            }
        }
        if self.match_ptr >= n {
            self.match_len = 0;
        }
        for (j, &order) in ORDERS.iter().enumerate() {
            let mut h = (order as u32 + 1).wrapping_mul(0x6F4F_2A35);
            for k in 1..=order {
                h = (h ^ self.prev(k)).wrapping_mul(0x0100_0193).rotate_left(5);
            }
            self.order_hash[j] = h;
        }
        if byte.is_ascii_alphanumeric() || byte == b'_' {
            self.word_hash = (self.word_hash ^ byte as u32)
                .wrapping_mul(0x2545_F491)
                .rotate_left(7);
        } else {
            self.word_hash = 0;
        }
    }

    /// The cost in bits of each byte of `raw` (for measurements).
    pub(super) fn costs(&mut self, raw: &[u8]) -> Vec<f64> {
        raw.iter()
            .map(|&b| {
                let mut c = 0.0;
                for i in (0..8).rev() {
                    let bit = (b >> i) & 1 == 1;
                    let p1 = self.predict() as f64 / 4096.0;
                    c -= if bit { p1 } else { 1.0 - p1 }.log2();
                    self.update(bit);
                }
                c
            })
            .collect()
    }

    /// Codes `raw` with this model.
    pub(super) fn encode(&mut self, raw: &[u8]) -> Vec<u8> {
        let mut enc = RangeEncoder::new();
        for &b in raw {
            for i in (0..8).rev() {
                let bit = (b >> i) & 1 == 1;
                let p1 = self.predict();
                enc.encode_with_p0(p0_of(p1), bit);
                self.update(bit);
            }
        }
        enc.finish()
    }

    /// Decodes `len` bytes coded by [`Mixing::encode`]; stops early, with
    /// fewer bytes, when the input runs out.
    pub(super) fn decode(&mut self, coded: &[u8], len: usize) -> (Vec<u8>, bool) {
        let mut dec = RangeDecoder::new(coded);
        let mut out = Vec::with_capacity(len.min(1 << 20));
        for i in 0..len {
            if i % 256 == 0 && dec.overrun() {
                break;
            }
            let mut b = 0u8;
            for _ in 0..8 {
                let p1 = self.predict();
                let bit = dec.decode_with_p0(p0_of(p1));
                self.update(bit);
                b = (b << 1) | u8::from(bit);
            }
            out.push(b);
        }
        let overrun = dec.overrun();
        (out, overrun)
    }
}

/// The range coder's probability of a zero (units of 2^-16) for a 12-bit
/// probability of a one.
#[inline]
fn p0_of(p1: u32) -> u32 {
    65536 - (p1.clamp(1, 4095) << 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(v: &[Counter]) -> Vec<u32> {
        v.iter().map(|c| c.0).collect()
    }

    /// Every table and field of `a` equals `b`'s.
    fn assert_same(a: &Mixing, b: &Mixing) {
        assert_eq!(counters(&a.order0), counters(&b.order0));
        assert_eq!(counters(&a.order1), counters(&b.order1));
        for (x, y) in a.hashed.iter().zip(&b.hashed) {
            assert_eq!(counters(x), counters(y));
        }
        assert_eq!(counters(&a.word), counters(&b.word));
        assert_eq!(counters(&a.match_conf), counters(&b.match_conf));
        assert_eq!(a.weights, b.weights);
        assert_eq!(a.history, b.history);
        assert_eq!(a.match_table, b.match_table);
        assert_eq!(
            (a.match_ptr, a.match_len, a.c0, a.order_hash, a.word_hash),
            (b.match_ptr, b.match_len, b.c0, b.order_hash, b.word_hash)
        );
        assert_eq!(
            (a.slots, a.inputs, a.expected, a.set, a.p12),
            (b.slots, b.inputs, b.expected, b.set, b.p12)
        );
    }

    #[test]
    fn reset_restores_the_primed_state_exactly() {
        let header = b"standard_name = \"air_temperature\" units = \"K\" title = \
            era5_t_pl500_0p25deg history = made for a test, 2026-12-02 ...";
        let primed = Mixing::with_primed(|m| m.clone());
        let mut m = primed.clone();
        let first = m.encode(header);
        assert!(!m.touched.is_empty());
        m.reset_from(&primed);
        assert!(m.touched.is_empty());
        assert_same(&m, &primed);
        // And the reset model codes the next header as a fresh copy does.
        assert_eq!(m.encode(header), first);
        m.reset_from(&primed);
        let (back, overrun) = m.decode(&first, header.len());
        assert!(!overrun);
        assert_eq!(back, header);
        m.reset_from(&primed);
        assert_same(&m, &primed);
    }

    #[test]
    fn a_header_too_long_to_journal_is_reset_by_a_whole_copy() {
        // 8 KB of varied text: more slots written than the journal keeps.
        let header: Vec<u8> = (0..8192u32)
            .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789 _=\n"[(i * 7 + i / 13) as usize % 40])
            .collect();
        let primed = Mixing::with_primed(|m| m.clone());
        let mut m = primed.clone();
        let first = m.encode(&header);
        // Journaling stopped and its memory was given back.
        assert!(m.overflowed && m.touched.capacity() == 0);
        m.reset_from(&primed);
        assert!(!m.overflowed && m.touched.is_empty());
        assert_same(&m, &primed);
        assert_eq!(m.encode(&header), first);
        // A short header after it journals again.
        m.reset_from(&primed);
        m.encode(b"units = \"K\"");
        assert!(!m.overflowed && !m.touched.is_empty());
        m.reset_from(&primed);
        assert_same(&m, &primed);
    }
}
