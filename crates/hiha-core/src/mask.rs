//! The missing-value mask, coded losslessly.
//!
//! Missing elements (NaN or `_FillValue`) never reach the predictors or the
//! quantiser; their positions are coded here as alternating run lengths
//! (valid, missing, valid, ...) with an adaptive integer model, which makes
//! land/sea-style masks and a few scattered gaps both cheap.

use crate::entropy::{RangeDecoder, RangeEncoder, UintModel};
use crate::error::{Error, Result};

/// Codes `mask` (true = missing).
pub fn encode(mask: &[bool]) -> Vec<u8> {
    let mut enc = RangeEncoder::new();
    let mut models = [UintModel::new(), UintModel::new()];
    let mut state = false;
    let mut i = 0usize;
    while i < mask.len() {
        let start = i;
        while i < mask.len() && mask[i] == state {
            i += 1;
        }
        let run = (i - start) as u64;
        // Runs longer than u32::MAX are split with zero-length runs of the other state.
        let mut left = run;
        loop {
            let part = left.min(u32::MAX as u64 - 1);
            models[state as usize].encode(&mut enc, part as u32);
            left -= part;
            if left == 0 {
                break;
            }
            models[!state as usize].encode(&mut enc, 0);
        }
        state = !state;
    }
    enc.finish()
}

/// Decodes a mask of exactly `len` elements.
pub fn decode(bytes: &[u8], len: usize) -> Result<Vec<bool>> {
    let mut dec = RangeDecoder::new(bytes);
    let mut models = [UintModel::new(), UintModel::new()];
    let mut out = Vec::with_capacity(len);
    let mut state = false;
    while out.len() < len {
        let run = models[state as usize].decode(&mut dec) as usize;
        if run > len - out.len() {
            return Err(Error::Corrupt(format!(
                "missing-value mask: a run of {run} overflows the {len} elements"
            )));
        }
        if dec.overrun() {
            return Err(Error::Truncated("missing-value mask ends early".into()));
        }
        out.resize(out.len() + run, state);
        state = !state;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let b = encode(&m);
            assert_eq!(decode(&b, m.len()).unwrap(), m);
        }
        let sparse: Vec<bool> = (0..100_000).map(|i| i % 10_000 == 3).collect();
        assert!(encode(&sparse).len() < 64);
    }

    #[test]
    fn corrupt_or_short_input_is_an_error() {
        let m: Vec<bool> = (0..5000).map(|i| (i / 13) % 2 == 0).collect();
        let b = encode(&m);
        assert!(decode(&b[..b.len() / 3], m.len()).is_err());
        // A wrong length must not be silently accepted as a different mask.
        let r = decode(&b, m.len() - 1);
        assert!(r.is_err());
    }
}
