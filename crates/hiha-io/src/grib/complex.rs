//! GRIB2 complex packing (data representation template 5.2) and complex
//! packing with spatial differencing (5.3), unpacked as ecCodes'
//! `DataG22OrderPacking` does: groups of integers with their own reference
//! and width, optional missing values inside the groups, then the inverse of
//! first- or second-order spatial differencing.

use super::bytes::{sign_magnitude, BitReader};
use super::error::{corrupt, unsupported, GribResult};
use super::simple::{scale_all, Scaling};

/// The group description of template 5.2/5.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComplexParams {
    /// Missing value management (code table 5.5): 0 none, 1 primary, 2 primary and secondary.
    pub missing_management: u8,
    pub groups: u32,
    pub width_reference: u8,
    pub width_bits: u8,
    pub length_reference: u32,
    pub length_increment: u8,
    pub last_length: u32,
    pub length_bits: u8,
    /// Order of spatial differencing (0 for template 5.2).
    pub order: u8,
    /// Octets of each extra descriptor (first values and the minimum).
    pub extra_octets: u8,
}

/// Marks a missing value among the unpacked integers (ecCodes uses `LONG_MAX`).
const MISSING: i64 = i64::MAX;

/// All ones in `bits` bits (0 < bits < 64), as ecCodes' `(1 << bits) - 1`.
fn all_ones(bits: u64) -> i64 {
    if bits >= 63 {
        i64::MAX
    } else {
        (1i64 << bits) - 1
    }
}

/// Unpacks `n` values. Returns them with the mask of missing ones (only
/// when the template manages missing values).
pub fn decode(
    scaling: &Scaling,
    p: &ComplexParams,
    n: usize,
    data: &[u8],
) -> GribResult<(Vec<f64>, Option<Vec<bool>>)> {
    // ECC-2095: no group at all is a constant field (not decimally scaled).
    if p.groups == 0 {
        return Ok((vec![scaling.reference; n], None));
    }
    if p.order > 2 {
        return Err(unsupported(format!(
            "order of spatial differencing {} (only 1 and 2 are defined)",
            p.order
        )));
    }
    if p.missing_management > 2 {
        return Err(unsupported(format!(
            "missing value management {} (code table 5.5 defines 0, 1 and 2)",
            p.missing_management
        )));
    }
    if p.extra_octets > 8 {
        return Err(corrupt(format!(
            "{} octets per extra descriptor (at most 8 fit a 64-bit integer)",
            p.extra_octets
        )));
    }
    let ng = p.groups as u64;
    if ng > n as u64 {
        return Err(corrupt(format!(
            "{ng} groups for {n} values: more groups than values"
        )));
    }
    let bits = u64::from(scaling.bits);
    let extra_bits = u64::from(p.extra_octets) * 8;
    let order = u64::from(p.order);
    let total_bits = (data.len() as u64) * 8;
    // Layout (bits): [extra descriptors][group references], padded to an
    // octet; [group widths], padded; [group lengths], padded; [values].
    let refs_start = if order > 0 {
        (order + 1) * extra_bits
    } else {
        0
    };
    let ref_bits = ng
        .checked_mul(bits)
        .and_then(|b| b.checked_add(refs_start))
        .ok_or_else(|| corrupt("the group references overflow"))?;
    let widths_start = ref_bits.div_ceil(8) * 8;
    let width_total = ng * u64::from(p.width_bits);
    let lengths_start = widths_start + width_total.div_ceil(8) * 8;
    let length_total = ng * u64::from(p.length_bits);
    let values_start = lengths_start + length_total.div_ceil(8) * 8;
    if values_start > total_bits {
        return Err(corrupt(format!(
            "the data section holds {} bytes, the descriptors of {ng} groups need {} (truncated)",
            data.len(),
            values_start.div_ceil(8)
        )));
    }
    let what = "the data section";
    let mut refs = BitReader::new(data, what);
    refs.seek(refs_start)?;
    let mut widths = BitReader::new(data, what);
    widths.seek(widths_start)?;
    let mut lengths = BitReader::new(data, what);
    lengths.seek(lengths_start)?;
    let mut vals = BitReader::new(data, what);
    vals.seek(values_start)?;

    let mut sec = vec![0i64; n];
    let mut count = 0usize;
    let mut any_missing = false;
    let max_ref = all_ones(bits);
    for g in 0..ng {
        let group_ref = refs.read(scaling.bits)?;
        let group_ref =
            i64::try_from(group_ref).map_err(|_| corrupt("a group reference exceeds 63 bits"))?;
        let width = widths
            .read(u32::from(p.width_bits))?
            .checked_add(u64::from(p.width_reference))
            .ok_or_else(|| corrupt("a group width overflows"))?;
        let scaled_len = lengths.read(u32::from(p.length_bits))?;
        let len = if g == ng - 1 {
            u64::from(p.last_length)
        } else {
            scaled_len
                .checked_mul(u64::from(p.length_increment))
                .and_then(|l| l.checked_add(u64::from(p.length_reference)))
                .ok_or_else(|| corrupt("a group length overflows"))?
        };
        if width > 64 {
            return Err(corrupt(format!("group {g} has values of {width} bits")));
        }
        let end = (count as u64)
            .checked_add(len)
            .filter(|&e| e <= n as u64)
            .ok_or_else(|| {
                corrupt(format!(
                    "the groups hold more than the {n} values the section announces"
                ))
            })? as usize;
        if width > 0 && len.saturating_mul(width) > vals.remaining() {
            return Err(corrupt(format!(
                "group {g} needs {} bits of values, the data section has {} left (truncated)",
                len * width,
                vals.remaining()
            )));
        }
        let width = width as u32;
        let max_val = all_ones(u64::from(width));
        for slot in &mut sec[count..end] {
            let x = match p.missing_management {
                0 => group_ref.checked_add(read_i64(&mut vals, width)?),
                m if width == 0 => {
                    if group_ref == max_ref || (m == 2 && group_ref == max_ref - 1) {
                        None
                    } else {
                        Some(group_ref)
                    }
                }
                m => {
                    let t = read_i64(&mut vals, width)?;
                    if t == max_val || (m == 2 && t == max_val - 1) {
                        None
                    } else {
                        group_ref.checked_add(t)
                    }
                }
            };
            *slot = match x {
                Some(v) if v != MISSING => v,
                Some(_) => return Err(corrupt("a packed value overflows")),
                None => {
                    any_missing = true;
                    MISSING
                }
            };
        }
        count = end;
    }
    // Values the groups do not reach stay 0, as in ecCodes.
    if p.order > 0 {
        let mut extra = BitReader::new(data, what);
        let eb = u32::from(p.extra_octets) * 8;
        let mut first = [0i64; 2];
        for f in first.iter_mut().take(usize::from(p.order)) {
            *f = i64::try_from(extra.read(eb)?)
                .map_err(|_| corrupt("a first value of spatial differencing exceeds 63 bits"))?;
        }
        let bias = sign_magnitude(extra.read(eb)?, eb as usize);
        undo_differencing(&mut sec, p.order, bias, first)?;
    }
    let missing = any_missing.then(|| sec.iter().map(|&x| x == MISSING).collect::<Vec<_>>());
    let values = scale_all(
        scaling,
        sec.iter().map(|&x| if x == MISSING { 0 } else { x }),
    );
    let values = match &missing {
        Some(m) => values
            .into_iter()
            .zip(m)
            .map(|(v, &m)| if m { f64::NAN } else { v })
            .collect(),
        None => values,
    };
    Ok((values, missing))
}

fn read_i64(r: &mut BitReader<'_>, bits: u32) -> GribResult<i64> {
    i64::try_from(r.read(bits)?).map_err(|_| corrupt("a packed value exceeds 63 bits"))
}

/// The inverse of spatial differencing of order 1 or 2 (ecCodes'
/// `post_process`): the first `order` non-missing values are the first
/// original values; each later one adds the minimum (`bias`) and the
/// previous value (order 1) or the linear extrapolation of the previous two
/// (order 2). Missing values are skipped.
fn undo_differencing(v: &mut [i64], order: u8, bias: i64, first: [i64; 2]) -> GribResult<()> {
    let overflow = || corrupt("spatial differencing overflows a 64-bit integer");
    let mut present = v.iter_mut().filter(|x| **x != MISSING);
    match order {
        1 => {
            let Some(x) = present.next() else {
                return Ok(());
            };
            *x = first[0];
            let mut last = first[0];
            for x in present {
                let y = x
                    .checked_add(last)
                    .and_then(|y| y.checked_add(bias))
                    .filter(|&y| y != MISSING)
                    .ok_or_else(overflow)?;
                *x = y;
                last = y;
            }
        }
        _ => {
            let Some(x) = present.next() else {
                return Ok(());
            };
            *x = first[0];
            let Some(x) = present.next() else {
                return Ok(());
            };
            *x = first[1];
            let mut penultimate = first[0];
            let mut last = first[1];
            for x in present {
                let y = x
                    .checked_add(bias)
                    .and_then(|y| y.checked_add(last))
                    .and_then(|y| y.checked_add(last))
                    .and_then(|y| y.checked_sub(penultimate))
                    .filter(|&y| y != MISSING)
                    .ok_or_else(overflow)?;
                *x = y;
                penultimate = last;
                last = y;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_order_differencing() {
        // Original 10, 12, 15, 19, 24: second differences 1, 1, 1 with bias 0.
        let mut v = vec![0, 0, 1, 1, 1];
        undo_differencing(&mut v, 2, 0, [10, 12]).expect("undoes");
        assert_eq!(v, vec![10, 12, 15, 19, 24]);
        let mut v = vec![0, MISSING, 3, 4];
        undo_differencing(&mut v, 1, -1, [7, 0]).expect("undoes");
        assert_eq!(v, vec![7, MISSING, 9, 12]);
        let mut v = vec![0, i64::MAX - 1];
        assert!(undo_differencing(&mut v, 1, 5, [1, 0]).is_err());
    }
}
