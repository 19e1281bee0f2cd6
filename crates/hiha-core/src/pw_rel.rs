//! The pointwise relative bound (`pw-rel:R`, `--pw-rel R`):
//! |x − x̂| ≤ R·|x| on every element, so zero stays exactly zero and no
//! value changes sign.
//!
//! How: the residual coder codes `y = ln|x|` with a pointwise bound of
//! `ln(1 + R)` (less a margin for f32 rounding); the decoder returns
//! `x̂ = ±exp(ŷ)`, so `x̂ / x` lies in `[1/(1+R), 1+R]` and
//! `|x − x̂| ≤ R·|x|`. Each element's sign and whether it is zero are coded
//! losslessly in a *signs* section per chunk (format 2.1, kind 8): runs of
//! the three states positive, negative and zero over the chunk's coded
//! elements (flagged ones — missing, NaN, ±inf — are skipped), each run
//! length with an adaptive [`UintModel`] per state and the next state with
//! one adaptive bit per state. A field of one sign costs a few bytes. Zero
//! elements are not given to the residual coder at all (they join the
//! mask it skips).

use crate::entropy::{BitModel, RangeDecoder, RangeEncoder, UintModel};
use crate::error::{Error, Result};
use crate::field::Field;

const POS: u8 = 0;
const NEG: u8 = 1;
const ZERO: u8 = 2;

/// `keep-zeros`: a decoded value moved to its coded state: exactly 0 for a
/// zero, and not across 0 for a positive or negative element (0 at worst).
/// The original has that state, so this only moves towards it.
pub(crate) fn clamp_to_state(state: u8, v: f32) -> f32 {
    match state {
        ZERO => 0.0,
        NEG if v > 0.0 => 0.0,
        POS if v < 0.0 => 0.0,
        _ => v,
    }
}

pub(crate) fn state_of(x: f32) -> u8 {
    if x == 0.0 {
        ZERO
    } else if x < 0.0 {
        NEG
    } else {
        POS
    }
}

/// The other state `bit` selects after `s` (0: the lower of the two others).
fn next_state(s: u8, bit: bool) -> u8 {
    let others: [u8; 2] = match s {
        POS => [NEG, ZERO],
        NEG => [POS, ZERO],
        _ => [POS, NEG],
    };
    others[usize::from(bit)]
}

/// Codes the states of a chunk's coded elements (`flagged[i]` skips i).
pub(crate) fn encode_signs(values: &[f32], flagged: Option<&[bool]>) -> Result<Vec<u8>> {
    let states: Vec<u8> = values
        .iter()
        .enumerate()
        .filter(|(i, _)| !flagged.is_some_and(|m| m[*i]))
        .map(|(_, &x)| state_of(x))
        .collect();
    let mut enc = RangeEncoder::new();
    let Some(&first) = states.first() else {
        return Ok(enc.finish());
    };
    let mut first_bits = [BitModel::new(), BitModel::new()];
    enc.encode_bit(&mut first_bits[0], first == ZERO);
    if first != ZERO {
        enc.encode_bit(&mut first_bits[1], first == NEG);
    }
    let mut runs = [UintModel::new(), UintModel::new(), UintModel::new()];
    let mut nexts = [BitModel::new(), BitModel::new(), BitModel::new()];
    let mut i = 0;
    while i < states.len() {
        let s = states[i];
        let start = i;
        while i < states.len() && states[i] == s {
            i += 1;
        }
        let run = u32::try_from(i - start - 1)
            .map_err(|_| Error::InvalidInput("a chunk of over 2^32 values".into()))?;
        runs[s as usize].encode(&mut enc, run);
        if let Some(&n) = states.get(i) {
            enc.encode_bit(&mut nexts[s as usize], next_state(s, true) == n);
        }
    }
    Ok(enc.finish())
}

/// Decodes the states of a chunk of `len` elements: one per element, in
/// order (flagged elements get [`POS`], which nothing reads).
pub(crate) fn decode_signs(
    payload: &[u8],
    flagged: Option<&[bool]>,
    len: usize,
) -> Result<Vec<u8>> {
    let coded = match flagged {
        Some(m) if m.len() != len => {
            return Err(Error::Corrupt("signs and mask disagree in length".into()))
        }
        Some(m) => m.iter().filter(|&&f| !f).count(),
        None => len,
    };
    let mut dec = RangeDecoder::new(payload);
    let mut states = Vec::with_capacity(coded);
    if coded > 0 {
        let mut first_bits = [BitModel::new(), BitModel::new()];
        let mut s = if dec.decode_bit(&mut first_bits[0]) {
            ZERO
        } else if dec.decode_bit(&mut first_bits[1]) {
            NEG
        } else {
            POS
        };
        let mut runs = [UintModel::new(), UintModel::new(), UintModel::new()];
        let mut nexts = [BitModel::new(), BitModel::new(), BitModel::new()];
        loop {
            let run = runs[s as usize].decode(&mut dec) as usize + 1;
            if run > coded - states.len() || dec.overrun() {
                return Err(Error::Corrupt(
                    "signs section codes more values than the chunk holds".into(),
                ));
            }
            states.resize(states.len() + run, s);
            if states.len() == coded {
                break;
            }
            s = next_state(s, dec.decode_bit(&mut nexts[s as usize]));
        }
    }
    if dec.overrun() {
        return Err(Error::Corrupt("signs section is truncated".into()));
    }
    let mut out = vec![POS; len];
    let mut it = states.into_iter();
    for (i, o) in out.iter_mut().enumerate() {
        if !flagged.is_some_and(|m| m[i]) {
            *o = it.next().unwrap_or(POS);
        }
    }
    Ok(out)
}

/// The field the residual coder sees: `ln|x|` for every coded nonzero
/// element (zeros become 0 and are skipped through [`zero_mask`]).
pub(crate) fn to_log(field: &Field) -> Field {
    let mut out = field.clone();
    out.packing = None;
    for (i, v) in out.values.iter_mut().enumerate() {
        if !field.is_missing(i) {
            *v = if *v == 0.0 {
                0.0
            } else {
                (v.abs() as f64).ln() as f32
            };
        }
    }
    out
}

/// The mask of elements the residual coder skips: the field's flagged
/// elements and its zeros.
pub(crate) fn zero_mask(field: &Field) -> Vec<bool> {
    field
        .values
        .iter()
        .enumerate()
        .map(|(i, &v)| field.is_missing(i) || v == 0.0)
        .collect()
}

/// The mask the residual decoder skips, from a chunk's decoded states: the
/// flagged elements and the zeros (`None` when there are neither, as the
/// encoder passes it).
pub(crate) fn skip_mask(states: &[u8], flagged: Option<&[bool]>) -> Option<Vec<bool>> {
    let skip: Vec<bool> = states
        .iter()
        .enumerate()
        .map(|(i, &s)| flagged.is_some_and(|m| m[i]) || s == ZERO)
        .collect();
    skip.iter().any(|&x| x).then_some(skip)
}

/// Turns decoded `ln|x|` values back: `±exp(y)`, or exactly 0.
pub(crate) fn from_log(vals: &mut [f32], states: &[u8], flagged: Option<&[bool]>) {
    for (i, v) in vals.iter_mut().enumerate() {
        if flagged.is_some_and(|m| m[i]) {
            continue;
        }
        *v = match states[i] {
            ZERO => 0.0,
            NEG => -((*v as f64).exp() as f32),
            _ => (*v as f64).exp() as f32,
        };
    }
}

/// The residual coder's pointwise target on `ln|x|` for `|x − x̂| ≤ R·|x|`
/// (`scale` ≤ 1 tightens it), less margins for rounding `ln|x|` to f32
/// (relative 2^-24 of the largest |ln|x||) and `exp` back to f32.
pub(crate) fn log_target(r: f64, max_abs_log: f64, scale: f64) -> Result<f64> {
    let t = r.ln_1p() * scale - max_abs_log * f64::powi(2.0, -23) - f64::powi(2.0, -22);
    if t > 0.0 && t.is_finite() {
        Ok(t)
    } else {
        Err(Error::BoundViolated(format!(
            "a pointwise relative bound of {r:e} is finer than f32 can hold these values"
        )))
    }
}

/// `keep-zeros`: checks that every valid zero of `field` came back exactly
/// zero and that no value changed sign.
pub(crate) fn check_states(field: &Field, recon: &[f32]) -> Result<()> {
    for (i, (&x, &y)) in field.values.iter().zip(recon).enumerate() {
        if field.is_missing(i) {
            continue;
        }
        let ok = match state_of(x) {
            ZERO => y == 0.0,
            POS => y >= 0.0,
            _ => y <= 0.0,
        };
        if !ok {
            return Err(Error::BoundViolated(format!(
                "keep-zeros: element {i} was {x:e} and came back {y:e}"
            )));
        }
    }
    Ok(())
}

/// The largest ratio `|x − x̂| / (R·|x|)` over the coded elements
/// (measured against the source's own values; a zero must come back zero).
pub(crate) fn worst(field: &Field, recon: &[f32], r: f64) -> f64 {
    let mut worst = 0.0f64;
    for (i, &y) in recon.iter().enumerate() {
        if field.is_missing(i) {
            continue;
        }
        let (x, slack) = field.source_value(i);
        let err = (x - y as f64).abs() + slack;
        let allowed = r * x.abs();
        let ratio = if err == 0.0 {
            0.0
        } else if allowed > 0.0 {
            err / allowed
        } else {
            f64::INFINITY
        };
        worst = worst.max(ratio);
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_round_trip_with_flags_and_hostile_bytes_fail() {
        let v = [1.0f32, 2.0, 0.0, 0.0, -3.0, 5.0, f32::NAN, -0.5, 0.0];
        let flagged = [false, false, false, false, false, false, true, false, false];
        for m in [None, Some(&flagged[..])] {
            let bytes = encode_signs(&v, m).expect("encode");
            let s = decode_signs(&bytes, m, v.len()).expect("decode");
            for i in 0..v.len() {
                if !m.is_some_and(|m| m[i]) {
                    assert_eq!(s[i], state_of(v[i]), "element {i}");
                }
            }
        }
        // One sign throughout costs almost nothing.
        let pos = vec![1.5f32; 100_000];
        assert!(encode_signs(&pos, None).expect("encode").len() < 12);
        // Garbage never panics, and a stream for fewer values is refused.
        for junk in [&[0xFFu8; 7][..], &[0u8; 3], &[]] {
            let _ = decode_signs(junk, None, 1000);
        }
        let short = encode_signs(&v[..3], None).expect("encode");
        assert!(decode_signs(&short, None, 1000).is_err());
    }

    #[test]
    fn log_round_trip_is_within_the_relative_bound() {
        let v = vec![1e-7f32, -2.5, 0.0, 300.0, -1e-30, 7.0];
        let f = Field::new(crate::field::Shape::new(1, 1, 2, 3), v.clone(), None).expect("f");
        let y = to_log(&f);
        let states: Vec<u8> = v.iter().map(|&x| state_of(x)).collect();
        let r = 1e-3;
        let t = log_target(r, 70.0, 1.0).expect("target");
        // Worst case: every log value off by the whole target.
        let mut back: Vec<f32> = y.values.iter().map(|&l| l + t as f32).collect();
        from_log(&mut back, &states, None);
        assert!(worst(&f, &back, r) <= 1.0, "{back:?}");
        assert_eq!(back[2], 0.0);
        assert!(back[1] < 0.0 && back[4] < 0.0);
        assert!(log_target(1e-9, 1e3, 1.0).is_err());
    }
}
