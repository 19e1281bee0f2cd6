//! The mask of elements that are not coded lossily, coded losslessly.
//!
//! Missing values (`_FillValue`), NaN and infinities never reach the
//! predictors or the quantiser. Their positions are coded here as
//! alternating run lengths (coded, not coded, coded, ...) with an adaptive
//! integer model, which makes land/sea-style masks and a few scattered gaps
//! both cheap.
//!
//! Format 2 ([`encode`], [`decode`]) also codes what each flagged element
//! holds, so that it comes back bit for bit: the [`MISSING`] marker, `+inf`,
//! `-inf`, the canonical NaN, or any other NaN (its 32 bits). When every
//! flagged element is missing (the usual case) one flag says so.
//! Format 1 ([`decode_v1`]) coded the positions only; its flagged elements
//! are all missing values.
//!
//! A run of length 0 is legal only where the encoder writes one: first, when
//! the mask starts with a flagged element, and right after a run part of the
//! maximum length. Anything else is corrupt, so a hostile stream cannot spin
//! the decoder on empty runs.

use crate::entropy::{BitModel, BitTree, RangeDecoder, RangeEncoder, UintModel};
use crate::error::{Error, Result};
use crate::field::{is_missing_marker, MISSING};

/// The longest run part; longer runs are split with a 0-length run of the
/// other kind between the parts.
const MAX_PART: u64 = u32::MAX as u64 - 1;

/// What a flagged element holds.
const KIND_MISSING: u32 = 0;
const KIND_POS_INF: u32 = 1;
const KIND_NEG_INF: u32 = 2;
const KIND_NAN: u32 = 3;
const KIND_OTHER: u32 = 4;

fn kind_of(v: f32) -> u32 {
    if is_missing_marker(v) {
        KIND_MISSING
    } else if v == f32::INFINITY {
        KIND_POS_INF
    } else if v == f32::NEG_INFINITY {
        KIND_NEG_INF
    } else if v.to_bits() == f32::NAN.to_bits() {
        KIND_NAN
    } else {
        KIND_OTHER
    }
}

fn encode_runs(enc: &mut RangeEncoder, mask: &[bool]) {
    let mut models = [UintModel::new(), UintModel::new()];
    let mut state = false;
    let mut i = 0usize;
    while i < mask.len() {
        let start = i;
        while i < mask.len() && mask[i] == state {
            i += 1;
        }
        let run = (i - start) as u64;
        let mut left = run;
        loop {
            let part = left.min(MAX_PART);
            models[state as usize].encode(enc, part as u32);
            left -= part;
            if left == 0 {
                break;
            }
            models[!state as usize].encode(enc, 0);
        }
        state = !state;
    }
}

fn decode_runs(dec: &mut RangeDecoder, len: usize) -> Result<Vec<bool>> {
    let mut models = [UintModel::new(), UintModel::new()];
    let mut out = Vec::with_capacity(len);
    let mut state = false;
    // A 0-length run is legal first, and after a maximal part.
    let mut zero_ok = true;
    while out.len() < len {
        let run = models[state as usize].decode(dec) as usize;
        if dec.overrun() {
            return Err(Error::Truncated("missing-value mask ends early".into()));
        }
        if run == 0 && !zero_ok {
            return Err(Error::Corrupt(
                "missing-value mask: an empty run where none can be".into(),
            ));
        }
        if run > len - out.len() {
            return Err(Error::Corrupt(format!(
                "missing-value mask: a run of {run} overflows the {len} elements"
            )));
        }
        zero_ok = run as u64 == MAX_PART;
        out.resize(out.len() + run, state);
        state = !state;
    }
    Ok(out)
}

/// Codes the mask of a chunk (true = not coded) and what its flagged
/// elements of `values` hold (format 2).
pub fn encode(mask: &[bool], values: &[f32]) -> Vec<u8> {
    debug_assert_eq!(mask.len(), values.len());
    let mut enc = RangeEncoder::new();
    encode_runs(&mut enc, mask);
    let flagged = || mask.iter().zip(values).filter(|(&m, _)| m).map(|(_, &v)| v);
    let all_missing = flagged().all(is_missing_marker);
    let mut flag = BitModel::new();
    enc.encode_bit(&mut flag, all_missing);
    if !all_missing {
        let mut kinds = BitTree::new(3);
        for v in flagged() {
            let k = kind_of(v);
            kinds.encode(&mut enc, k);
            if k == KIND_OTHER {
                enc.encode_direct(v.to_bits(), 32);
            }
        }
    }
    enc.finish()
}

/// What the flagged elements of a decoded mask hold, in order: `None` when
/// every one is the [`MISSING`] marker.
pub type Specials = Option<Vec<f32>>;

/// Decodes a format-2 mask of `len` elements: the mask, and what its
/// flagged elements hold.
pub fn decode(bytes: &[u8], len: usize) -> Result<(Vec<bool>, Specials)> {
    let mut dec = RangeDecoder::new(bytes);
    let mask = decode_runs(&mut dec, len)?;
    let mut flag = BitModel::new();
    let all_missing = dec.decode_bit(&mut flag);
    if dec.overrun() {
        return Err(Error::Truncated("missing-value mask ends early".into()));
    }
    if all_missing {
        return Ok((mask, None));
    }
    let flagged = mask.iter().filter(|&&m| m).count();
    let mut kinds = BitTree::new(3);
    let mut out = Vec::with_capacity(flagged);
    for _ in 0..flagged {
        let v = match kinds.decode(&mut dec) {
            KIND_MISSING => MISSING,
            KIND_POS_INF => f32::INFINITY,
            KIND_NEG_INF => f32::NEG_INFINITY,
            KIND_NAN => f32::NAN,
            KIND_OTHER => {
                let x = f32::from_bits(dec.decode_direct(32));
                if x.is_finite() {
                    return Err(Error::Corrupt(format!(
                        "missing-value mask: a flagged element holds the finite value {x}"
                    )));
                }
                x
            }
            k => {
                return Err(Error::Corrupt(format!(
                    "missing-value mask: unknown element kind {k}"
                )))
            }
        };
        if dec.overrun() {
            return Err(Error::Truncated("missing-value mask ends early".into()));
        }
        out.push(v);
    }
    Ok((mask, Some(out)))
}

/// Writes what the flagged elements hold into `values`: the [`MISSING`]
/// marker, or the decoded specials in order.
pub fn apply(values: &mut [f32], mask: &[bool], specials: &Specials) {
    let flagged = values.iter_mut().zip(mask).filter(|(_, &m)| m);
    match specials {
        None => flagged.for_each(|(v, _)| *v = MISSING),
        Some(s) => flagged.zip(s).for_each(|((v, _), &x)| *v = x),
    }
}

/// Decodes a format-1 mask (positions only) of `len` elements.
pub fn decode_v1(bytes: &[u8], len: usize) -> Result<Vec<bool>> {
    let mut dec = RangeDecoder::new(bytes);
    decode_runs(&mut dec, len)
}

/// Codes positions only, as format 1 did (for tests of the format-1 reader).
pub fn encode_v1(mask: &[bool]) -> Vec<u8> {
    let mut enc = RangeEncoder::new();
    encode_runs(&mut enc, mask);
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values_for(m: &[bool]) -> Vec<f32> {
        m.iter().map(|&x| if x { MISSING } else { 1.0 }).collect()
    }

    #[test]
    fn round_trips_patterns() {
        let cases: Vec<Vec<bool>> = vec![
            vec![false; 1000],
            vec![true; 1000],
            (0..5000).map(|i| (i / 37) % 3 == 0).collect(),
            (0..5000).map(|i| i % 997 == 0).collect(),
            vec![true],
            vec![false],
        ];
        for m in cases {
            let v = values_for(&m);
            let b = encode(&m, &v);
            let (mm, specials) = decode(&b, m.len()).unwrap();
            assert_eq!(mm, m);
            assert!(specials.is_none());
            let mut back = vec![0.0f32; m.len()];
            apply(&mut back, &mm, &specials);
            for (x, y) in v.iter().zip(&back) {
                if is_missing_marker(*x) {
                    assert!(is_missing_marker(*y));
                }
            }
            assert_eq!(decode_v1(&encode_v1(&m), m.len()).unwrap(), m);
        }
        let sparse: Vec<bool> = (0..100_000).map(|i| i % 10_000 == 3).collect();
        assert!(encode(&sparse, &values_for(&sparse)).len() < 64);
    }

    #[test]
    fn special_values_come_back_bit_for_bit() {
        let odd = f32::from_bits(0xFFC1_2345);
        let v = vec![
            1.0,
            f32::INFINITY,
            2.0,
            f32::NEG_INFINITY,
            f32::NAN,
            MISSING,
            odd,
            3.0,
        ];
        let m: Vec<bool> = v.iter().map(|x| !x.is_finite()).collect();
        let b = encode(&m, &v);
        let (mm, specials) = decode(&b, v.len()).unwrap();
        assert_eq!(mm, m);
        let mut back = vec![0.0f32; v.len()];
        apply(&mut back, &mm, &specials);
        for i in 0..v.len() {
            if m[i] {
                assert_eq!(back[i].to_bits(), v[i].to_bits(), "element {i}");
            }
        }
    }

    #[test]
    fn corrupt_or_short_input_is_an_error() {
        let m: Vec<bool> = (0..5000).map(|i| (i / 13) % 2 == 0).collect();
        let b = encode(&m, &values_for(&m));
        assert!(decode(&b[..b.len() / 3], m.len()).is_err());
        assert!(decode(&b, m.len() - 1).is_err());
    }

    /// Regression (issue 9): 1 MB of zero bytes decoded as zero-length runs
    /// for 27.8 s. An empty run where none can be is now corrupt at once.
    #[test]
    fn zero_bytes_do_not_spin_on_empty_runs() {
        let zeros = vec![0u8; 1 << 20];
        let t = std::time::Instant::now();
        assert!(decode_v1(&zeros, 1 << 20).is_err());
        assert!(decode(&zeros, 1 << 16).is_err());
        assert!(t.elapsed().as_secs_f64() < 1.0, "{:?}", t.elapsed());
    }
}
