//! Bitmaps: one bit per grid point, 1 where a value is coded. Points whose
//! bit is 0 are missing (ecCodes gives them its `missingValue`; hiha marks
//! them missing).

use super::error::{corrupt, GribResult};

/// Number of 1 bits among the first `points` bits of `bits` (an error when
/// the bitmap is shorter than the grid).
pub fn count_ones(bits: &[u8], points: usize) -> GribResult<usize> {
    let full = points / 8;
    let rest = points % 8;
    if bits.len() < full + usize::from(rest > 0) {
        return Err(corrupt(format!(
            "the bitmap holds {} bits, the grid has {points} points (truncated)",
            bits.len().saturating_mul(8)
        )));
    }
    let mut n: usize = bits[..full].iter().map(|b| b.count_ones() as usize).sum();
    if rest > 0 {
        n += (bits[full] >> (8 - rest)).count_ones() as usize;
    }
    Ok(n)
}

/// Spreads the coded values over the grid: point `i` takes the next coded
/// value when bit `i` is set, and is missing otherwise. `coded_missing`
/// marks coded values that are themselves missing (complex packing's
/// missing-value management).
pub fn expand(
    coded: Vec<f64>,
    coded_missing: Option<Vec<bool>>,
    bits: &[u8],
    points: usize,
) -> GribResult<(Vec<f64>, Vec<bool>)> {
    let ones = count_ones(bits, points)?;
    if ones != coded.len() {
        return Err(corrupt(format!(
            "the bitmap has {ones} points with values but the data section codes {}",
            coded.len()
        )));
    }
    let mut values = Vec::with_capacity(points);
    let mut missing = Vec::with_capacity(points);
    let mut next = 0usize;
    for i in 0..points {
        // In range: count_ones checked the length.
        let set = bits[i / 8] & (0x80 >> (i % 8)) != 0;
        if set {
            values.push(coded[next]);
            missing.push(coded_missing.as_ref().is_some_and(|m| m[next]));
            next += 1;
        } else {
            values.push(f64::NAN);
            missing.push(true);
        }
    }
    Ok((values, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_spreads_values() {
        let (values, missing) = expand(vec![1.0, 2.0], None, &[0b1001_0000], 5).expect("expands");
        assert_eq!(values[0], 1.0);
        assert!(values[1].is_nan());
        assert_eq!(values[3], 2.0);
        assert_eq!(missing, vec![false, true, true, false, true]);
        assert!(expand(vec![1.0], None, &[0b1001_0000], 5).is_err());
        assert!(expand(vec![1.0, 2.0], None, &[0b1001_0000], 9).is_err());
    }
}
