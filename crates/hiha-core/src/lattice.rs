//! Sources that were already quantised: values on a lattice `offset + k·step`.
//!
//! Most archived atmospheric data went through a quantiser before hiha sees
//! it: GRIB simple packing (16 bits), CF `scale_factor`/`add_offset` int16
//! packing, integer relative humidity, 0.1 K steps. Every valid value is then
//! `f32(k·step + offset)` for an integer `k`. When the bound asks for an
//! error finer than about half a step, a lossy coder spends bits to place
//! each value inside a bin narrower than the step, although the source has
//! nothing between two lattice points. Coding the integers `k` instead, with
//! a pointwise error below ½ (so that rounding recovers `k` exactly), gives
//! back every value bit for bit at fewer bits.
//!
//! The lattice is the source's packing when it declared one, else detected
//! from the data; it is used only when every valid value lies within two
//! ulps of its lattice point (bit for bit in the common cases). A field of
//! few distinct values that are not evenly spaced (integer relative
//! humidity with a few hundredths near 0) gets a *table* of its distinct
//! values instead, and its indices are the ranks in that table.
//!
//! Decided per chunk, from the chunk's own values (so a streamed encoder
//! decides as the in-memory one does), and stored at the head of the
//! chunk's residual section, whose kind is then *lattice-residual* (9): a
//! reader that does not know lattices refuses it instead of decoding
//! indices. The header's `extra` carries field 4 (empty) when any chunk of
//! the variable is lattice-coded, which makes the archive format 2.1.

use crate::error::{Error, Result};
use crate::field::{Field, Packing};
use crate::residual::Target;

/// Largest lattice index magnitude: integers up to 2^24 are exact in f32.
const MAX_INDEX: f64 = (1u32 << 24) as f64;
/// Values sampled to find the step.
const SAMPLE: usize = 1 << 16;
/// Pointwise error the residual coder is given on the indices: below ½ so
/// that rounding recovers every index, with room for f32 arithmetic.
pub(crate) const INDEX_TARGET: f64 = 0.45;

/// The forms of a lattice in a lattice-residual section's prefix.
const FORM_REGULAR: u8 = 1;
const FORM_TABLE: u8 = 2;

/// Most distinct values a table holds (16 KiB stored).
pub(crate) const MAX_TABLE: usize = 4096;
/// Valid values per table entry at least (the table's 4 bytes an entry
/// then cost under 1/8 bit a value).
const VALUES_PER_ENTRY: usize = 32;

/// The values of a chunk as detection sees them: the valid ones, and the
/// source's packing when it declared one.
#[derive(Clone, Copy)]
pub(crate) struct Values<'a> {
    pub values: &'a [f32],
    pub missing: Option<&'a [bool]>,
    pub packing: Option<Packing>,
}

impl<'a> From<&'a Field> for Values<'a> {
    fn from(f: &'a Field) -> Self {
        Values {
            values: &f.values,
            missing: f.missing.as_deref(),
            packing: f.packing,
        }
    }
}

impl Values<'_> {
    fn is_missing(&self, i: usize) -> bool {
        self.missing.is_some_and(|m| m[i])
    }

    fn valid(&self) -> impl Iterator<Item = f32> + '_ {
        self.values
            .iter()
            .enumerate()
            .filter(|&(i, _)| !self.is_missing(i))
            .map(|(_, &v)| v)
    }

    fn value_range(&self) -> Option<(f32, f32)> {
        let (lo, hi) = self
            .valid()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        (lo <= hi).then_some((lo, hi))
    }
}

/// A table of the distinct values of a field, sorted.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Table {
    pub values: Vec<f32>,
}

impl Table {
    /// The table of `field`'s valid values, when there are at least 2 and
    /// at most [`MAX_TABLE`] of them.
    /// The table is stored in the header, so it must also be small beside
    /// the field: at most one entry per [`VALUES_PER_ENTRY`] valid values.
    fn detect(field: &Values) -> Option<Table> {
        let limit = MAX_TABLE.min(field.valid().count() / VALUES_PER_ENTRY);
        let mut set = std::collections::BTreeSet::new();
        for v in field.valid() {
            set.insert(order_key(v));
            if set.len() > limit {
                return None;
            }
        }
        let values: Vec<f32> = set.into_iter().map(from_order_key).collect();
        (values.len() >= 2).then_some(Table { values })
    }

    /// The median gap between neighbouring values.
    fn median_gap(&self) -> f64 {
        let mut g: Vec<f64> = self
            .values
            .windows(2)
            .map(|w| w[1] as f64 - w[0] as f64)
            .collect();
        g.sort_by(f64::total_cmp);
        g.get(g.len() / 2).copied().unwrap_or(0.0)
    }

    fn index(&self, v: f32) -> f64 {
        self.values
            .binary_search_by(|x| x.total_cmp(&v))
            .unwrap_or_else(|i| i.min(self.values.len() - 1)) as f64
    }

    fn value(&self, k: f64) -> f32 {
        let last = (self.values.len() - 1) as f64;
        self.values[k.round().clamp(0.0, last) as usize]
    }
}

/// How a field's values are quantised: evenly ([`Lattice::Regular`]) or
/// onto a table of distinct values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lattice {
    Regular { step: f64, offset: f64 },
    Table(Table),
}

impl Lattice {
    /// The spacing a lossy coder would have to resolve to do better than
    /// the indices: the step, or a table's median gap.
    fn gap(&self) -> f64 {
        match self {
            Lattice::Regular { step, .. } => *step,
            Lattice::Table(t) => t.median_gap(),
        }
    }

    /// The value of index `k` (rounded to an integer first).
    pub fn value(&self, k: f64) -> f32 {
        match self {
            Lattice::Regular { step, offset } => {
                (k.round().clamp(-MAX_INDEX, MAX_INDEX) * step + offset) as f32
            }
            Lattice::Table(t) => t.value(k),
        }
    }

    fn index(&self, v: f32) -> f64 {
        match self {
            Lattice::Regular { step, offset } => ((v as f64 - offset) / step).round(),
            Lattice::Table(t) => t.index(v),
        }
    }

    /// The lattice of a field's values (see [`Regular::detect`]), or a
    /// table of them when there are few and no lattice, with the largest
    /// distance of a value from its point.
    /// A table wins when its values are sparser than the lattice's points
    /// (its median gap wider than 1.5 steps): integer humidity with a few
    /// hundredths lies on a lattice of 0.01 but mostly a unit apart.
    #[cfg(test)]
    pub fn detect(field: &Values) -> Option<(Lattice, f64)> {
        Self::detect_with(field, true, true)
    }

    fn detect_with(field: &Values, table: bool, regular: bool) -> Option<(Lattice, f64)> {
        let table = table.then(|| Table::detect(field)).flatten();
        let regular = regular.then(|| Regular::detect(field)).flatten();
        match (table, regular) {
            (Some(t), Some((step, _, _))) if t.median_gap() > 1.5 * step => {
                Some((Lattice::Table(t), 0.0))
            }
            (_, Some((step, offset, dev))) => Some((Lattice::Regular { step, offset }, dev)),
            (Some(t), None) => Some((Lattice::Table(t), 0.0)),
            (None, None) => None,
        }
    }
}

/// Detection of evenly spaced values.
struct Regular {
    step: f64,
    offset: f64,
}

impl Regular {
    /// The value of index `k`, as the source defines it, rounded to f32.
    pub fn value(&self, k: f64) -> f32 {
        (k * self.step + self.offset) as f32
    }

    fn index(&self, v: f32) -> f64 {
        ((v as f64 - self.offset) / self.step).round()
    }

    /// The largest distance between a valid value of `field` and the value
    /// of its nearest index, or `None` when an index leaves f32's exact
    /// integers or the lattice is degenerate.
    /// Stops early (`None`) once a value lies further than `limit`. A value
    /// that differs only in the sign of zero counts as the smallest
    /// distance, so that 0 means bit for bit.
    fn deviation(&self, field: &Values, limit: f64) -> Option<f64> {
        if !(self.step.is_finite() && self.step > 0.0 && self.offset.is_finite()) {
            return None;
        }
        let mut max = 0.0f64;
        for v in field.valid() {
            let k = self.index(v);
            if k.abs() > MAX_INDEX {
                return None;
            }
            let back = self.value(k);
            let d = if back.to_bits() == v.to_bits() {
                0.0
            } else {
                (back as f64 - v as f64).abs().max(f64::MIN_POSITIVE)
            };
            if d > limit {
                return None;
            }
            max = max.max(d);
        }
        Some(max)
    }

    /// Least-squares step and offset of the values against the indices
    /// that `self` gives them: f32 rounding hides the source's exact step,
    /// and the fit over every value recovers it to a small fraction of an
    /// ulp across the range.
    /// The indices are taken about `mid` (the middle of the range), which
    /// keeps the sums of k and k² well conditioned.
    fn refined(&self, field: &Values, mid: f64) -> Regular {
        let (mut n, mut sk, mut sv, mut skk, mut skv) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
        let centre = Regular {
            step: self.step,
            offset: self.offset + mid * self.step,
        };
        for v in field.valid() {
            let k = centre.index(v);
            let v = v as f64 - centre.offset;
            n += 1.0;
            sk += k;
            sv += v;
            skk += k * k;
            skv += k * v;
        }
        let det = n * skk - sk * sk;
        if det <= 0.0 {
            return Regular {
                step: self.step,
                offset: self.offset,
            };
        }
        let step = (n * skv - sk * sv) / det;
        let off = (sv - step * sk) / n;
        // Back to indices from the bottom of the range.
        Regular {
            step,
            offset: centre.offset + off - mid * step,
        }
    }

    /// The lattice of `field`'s valid values and the largest distance of a
    /// value from its lattice point (0 when every value is reproduced bit
    /// for bit; at most 2 ulps of the largest magnitude otherwise): the
    /// source's packing when it holds, else one found from the data (the
    /// smallest gap between sampled distinct values, refined by a
    /// least-squares fit over every value). `None` when there is none, or
    /// the field is constant.
    fn detect(field: &Values) -> Option<(f64, f64, f64)> {
        let (lo, hi) = field.value_range()?;
        if lo >= hi {
            return None;
        }
        let tolerance = 2.0 * ulp(lo.abs().max(hi.abs()));
        let accept = |l: Regular| l.deviation(field, tolerance).map(|d| (l.step, l.offset, d));
        if let Some(p) = field.packing {
            let l = Regular {
                step: p.scale.abs(),
                offset: p.offset,
            };
            if let Some(found) = accept(l) {
                return Some(found);
            }
        }
        let s = sample(field);
        let gap = s
            .windows(2)
            .map(|w| w[1] as f64 - w[0] as f64)
            .filter(|&d| d > 0.0)
            .fold(f64::INFINITY, f64::min);
        let span = hi as f64 - lo as f64;
        if !gap.is_finite() || gap <= tolerance {
            return None;
        }
        // f32 rounding makes the smallest gap a little off the step: over
        // a range of 17 000 steps, 0.0099983 for 0.01 picks a count 3 off.
        // The mean of the gaps near the smallest averages that out.
        let near: Vec<f64> = s
            .windows(2)
            .map(|w| w[1] as f64 - w[0] as f64)
            .filter(|&d| d > 0.5 * gap && d < 1.5 * gap)
            .collect();
        let gap = near.iter().sum::<f64>() / near.len().max(1) as f64;
        // The sample may miss the neighbours of a value: try a few divisors.
        (1..=4).find_map(|j| {
            let count = (span / (gap / j as f64)).round();
            if !(1.0..=MAX_INDEX).contains(&count) {
                return None;
            }
            let rough = Regular {
                step: span / count,
                offset: lo as f64,
            };
            // The rough lattice must already place every value near a
            // point, or the refit would chase a wrong one.
            rough.deviation(field, rough.step / 4.0)?;
            let fine = rough.refined(field, (count / 2.0).round());
            accept(fine).or_else(|| accept(rough))
        })
    }
}

impl Lattice {
    /// Whether coding the indices losslessly should beat coding the values
    /// to `target`: when the target's quantisation bin (2·e for a pointwise
    /// error e, √12·r for an RMSE r) is no wider than the step, the lossy
    /// coder would resolve finer than the lattice it cannot use.
    /// `deviation` is the largest distance of a value from its lattice
    /// point, which the target must also cover.
    pub fn pays(&self, target: Target, deviation: f64) -> bool {
        let e = match target {
            Target::MaxAbs(e) | Target::Rmse(e) => e,
        };
        bin_of(target) <= self.gap() && deviation <= e
    }

    /// The field of indices the residual coder sees (missing elements kept).
    pub fn indices(&self, field: &Values) -> Vec<f32> {
        field
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if field.is_missing(i) {
                    v
                } else {
                    self.index(v) as f32
                }
            })
            .collect()
    }

    /// Turns decoded indices back into values: each valid element is
    /// rounded to its index and mapped onto the lattice.
    pub fn restore(&self, vals: &mut [f32], flagged: Option<&[bool]>) {
        for (i, v) in vals.iter_mut().enumerate() {
            if flagged.is_some_and(|m| m[i]) {
                continue;
            }
            *v = self.value(*v as f64);
        }
    }

    /// Writes the prefix of a lattice-residual payload: `u8 form` (1 for
    /// a regular lattice, 2 for a table), varint length, body.
    pub fn write_prefix(&self, out: &mut Vec<u8>) {
        let mut body = Vec::new();
        let form = match self {
            Lattice::Regular { step, offset } => {
                body.extend_from_slice(&step.to_le_bytes());
                body.extend_from_slice(&offset.to_le_bytes());
                FORM_REGULAR
            }
            Lattice::Table(t) => {
                for v in &t.values {
                    body.extend_from_slice(&v.to_le_bytes());
                }
                FORM_TABLE
            }
        };
        out.push(form);
        crate::format::put_varint(out, body.len() as u64);
        out.extend_from_slice(&body);
    }

    /// Reads the prefix of a lattice-residual payload; returns the lattice
    /// and the residual stream after it.
    pub fn read_prefix(payload: &[u8]) -> Result<(Lattice, &[u8])> {
        let (&form, rest) = payload
            .split_first()
            .ok_or_else(|| Error::Truncated("lattice of a lattice-residual section".into()))?;
        let (len, used) = crate::format::get_varint(rest)
            .ok_or_else(|| Error::Corrupt("a lattice's length is malformed".into()))?;
        let body = usize::try_from(len)
            .ok()
            .and_then(|l| rest.get(used..used.checked_add(l)?))
            .ok_or_else(|| Error::Truncated("a lattice runs past its section".into()))?;
        let after = &rest[used + body.len()..];
        let lattice = match form {
            FORM_REGULAR => Lattice::decode_regular(body)?,
            FORM_TABLE => Lattice::decode_table(body)?,
            f => return Err(Error::Corrupt(format!("a lattice of unknown form {f}"))),
        };
        Ok((lattice, after))
    }

    /// The lattice to code a chunk's values on, and their indices, when
    /// there is one and coding its indices pays for `target`.
    ///
    /// A sample of the chunk rules out most chunks first, at the cost of a
    /// sort of 64 Ki values: a lattice's step is at most the sample's
    /// smallest gap, and a table's median gap about the sample's, so when
    /// the target's bin is wider than those, nothing can pay and the full
    /// passes over the chunk are skipped.
    pub fn for_chunk(values: &Values, target: Target) -> Option<(Lattice, Vec<f32>)> {
        let bin = bin_of(target);
        let s = sample(values);
        let gaps: Vec<f64> = s
            .windows(2)
            .map(|w| w[1] as f64 - w[0] as f64)
            .filter(|&d| d > 0.0)
            .collect();
        let min_gap = gaps.iter().copied().fold(f64::INFINITY, f64::min);
        let mut sorted = gaps.clone();
        sorted.sort_by(f64::total_cmp);
        let median_gap = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
        let regular_may = bin <= min_gap * 1.01;
        let table_may = bin <= median_gap && s.len() <= MAX_TABLE;
        if !(regular_may || table_may) {
            return None;
        }
        let (l, dev) = Lattice::detect_with(values, table_may, regular_may)?;
        if !l.pays(target, dev) {
            return None;
        }
        let k = l.indices(values);
        Some((l, k))
    }

    /// The regular lattice of a chunk, its indices and the near-lossless
    /// bound `near` (in steps, at least 1) that keeps every value within
    /// the pointwise bound `e`: `⌊(e − deviation − margin) / step⌋`, the
    /// margin 4 f32 ulps of the largest magnitude (the f32 rounding of a
    /// lattice point). `None` without a regular lattice or below a step.
    pub fn for_chunk_near(values: &Values, e: f64) -> Option<(Lattice, Vec<f32>, u32)> {
        let (l, dev) = Lattice::detect_with(values, false, true)?;
        let Lattice::Regular { step, .. } = l else {
            return None;
        };
        let top = values.valid().fold(0f64, |m, v| m.max((v as f64).abs()));
        let margin = 4.0 * f32::EPSILON as f64 * top;
        let near = ((e - dev - margin) / step).floor();
        if !(1.0..1e6).contains(&near) {
            return None;
        }
        let k = l.indices(values);
        Some((l, k, near as u32))
    }

    /// Reads a table's body: at least 2 and at most [`MAX_TABLE`] finite f32
    /// values, strictly increasing.
    fn decode_table(body: &[u8]) -> Result<Lattice> {
        let n = body.len() / 4;
        if !body.len().is_multiple_of(4) || !(2..=MAX_TABLE).contains(&n) {
            return Err(Error::Corrupt(format!(
                "a value table of {} bytes",
                body.len()
            )));
        }
        let values: Vec<f32> = body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let ok = values.iter().all(|v| v.is_finite())
            && values.windows(2).all(|w| w[0].total_cmp(&w[1]).is_lt());
        if !ok {
            return Err(Error::Corrupt(
                "a value table that is not finite and increasing".into(),
            ));
        }
        Ok(Lattice::Table(Table { values }))
    }

    /// Reads a regular lattice's body: f64 step > 0, f64 offset, finite.
    fn decode_regular(body: &[u8]) -> Result<Lattice> {
        if body.len() != 16 {
            return Err(Error::Corrupt("a lattice field is not 16 bytes".into()));
        }
        let f = |b: &[u8]| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            f64::from_le_bytes(a)
        };
        let (step, offset) = (f(&body[..8]), f(&body[8..]));
        if !(step.is_finite() && step > 0.0 && offset.is_finite()) {
            return Err(Error::Corrupt(format!(
                "a lattice of step {step} and offset {offset}"
            )));
        }
        Ok(Lattice::Regular { step, offset })
    }
}

/// The quantisation bin of a target: 2·e for a pointwise error e, √12·r
/// for an RMSE r (a uniform quantiser's).
fn bin_of(target: Target) -> f64 {
    match target {
        Target::MaxAbs(e) => 2.0 * e,
        Target::Rmse(r) => 12f64.sqrt() * r,
    }
}

/// Up to [`SAMPLE`] valid values taken evenly, sorted, without repeats.
fn sample(field: &Values) -> Vec<f32> {
    let n = field.values.len();
    let stride = (n / SAMPLE).max(1);
    let mut s: Vec<f32> = (0..n)
        .step_by(stride)
        .filter(|&i| !field.is_missing(i))
        .map(|i| field.values[i])
        .collect();
    s.sort_by(f32::total_cmp);
    s.dedup();
    s
}

/// A key whose unsigned order is `f32::total_cmp`'s order of the values.
fn order_key(v: f32) -> u32 {
    let b = v.to_bits();
    if b >> 31 == 1 {
        !b
    } else {
        b | 0x8000_0000
    }
}

fn from_order_key(k: u32) -> f32 {
    f32::from_bits(if k >> 31 == 1 { k & 0x7fff_ffff } else { !k })
}

/// The spacing of f32 values at magnitude `x`.
fn ulp(x: f32) -> f64 {
    let x = x.abs().min(f32::MAX / 2.0);
    if x.is_finite() {
        f32::from_bits(x.to_bits() + 1) as f64 - x as f64
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{Packing, Shape};

    fn field(values: Vec<f32>) -> Field {
        let n = values.len();
        Field::new(Shape::new(1, 1, 1, n), values, None).expect("field")
    }

    fn detect(f: &Field) -> Option<(Lattice, f64)> {
        Lattice::detect(&Values::from(f))
    }

    #[test]
    fn integers_and_decimal_steps_are_found_and_restored_exactly() {
        // Integer-valued relative humidity, and 0.1 K temperatures.
        let rh: Vec<f32> = (0..500).map(|i| ((i * 37) % 101) as f32).collect();
        let (l, dev) = detect(&field(rh.clone())).expect("integer lattice");
        assert!(matches!(l, Lattice::Regular { step, .. } if (step - 1.0).abs() < 1e-12));
        assert_eq!(dev, 0.0);
        let t: Vec<f32> = (0..500)
            .map(|i| ((2000 + (i * 13) % 700) as f64 * 0.1) as f32)
            .collect();
        let f = field(t.clone());
        let (l, dev) = detect(&f).expect("0.1 lattice");
        assert_eq!(dev, 0.0, "every value reproduced bit for bit");
        let mut k = l.indices(&Values::from(&f));
        assert!(k.iter().all(|x| x.fract() == 0.0));
        // Any error below ½ on the indices comes back bit for bit.
        for (i, x) in k.iter_mut().enumerate() {
            *x += if i % 2 == 0 { 0.44 } else { -0.44 };
        }
        l.restore(&mut k, None);
        assert!(k.iter().zip(&t).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn packing_is_the_lattice_when_it_holds() {
        let p = Packing {
            scale: 0.0023,
            offset: 250.5,
        };
        let v: Vec<f32> = (0..300)
            .map(|i| ((i * 7 % 1000) as f64 * p.scale + p.offset) as f32)
            .collect();
        let mut f = field(v);
        f.packing = Some(p);
        assert_eq!(
            detect(&f),
            Some((
                Lattice::Regular {
                    step: 0.0023,
                    offset: 250.5
                },
                0.0
            ))
        );
    }

    #[test]
    fn continuous_values_have_no_lattice() {
        let v: Vec<f32> = (0..5000).map(|i| (i as f32 * 0.731).sin() * 40.0).collect();
        assert_eq!(detect(&field(v)), None);
        assert_eq!(detect(&field(vec![3.0; 10])), None);
    }

    #[test]
    fn it_pays_only_below_the_step() {
        let l = Lattice::Regular {
            step: 1.0,
            offset: 0.0,
        };
        assert!(l.pays(Target::MaxAbs(0.4), 0.0));
        assert!(!l.pays(Target::MaxAbs(0.6), 0.0));
        assert!(l.pays(Target::Rmse(0.2), 0.0));
        assert!(!l.pays(Target::Rmse(0.3), 0.0));
        assert!(!l.pays(Target::Rmse(0.2), 0.25), "values off their points");
    }

    #[test]
    fn stored_form_round_trips_and_hostile_bytes_are_errors() {
        let l = Lattice::Regular {
            step: 0.1,
            offset: -3.5,
        };
        let mut b = Vec::new();
        l.write_prefix(&mut b);
        b.extend_from_slice(b"rest");
        let (back, rest) = Lattice::read_prefix(&b).expect("decode");
        assert_eq!((back, rest), (l, &b"rest"[..]));
        assert!(Lattice::read_prefix(&b[..10]).is_err(), "truncated");
        assert!(Lattice::read_prefix(&[]).is_err());
        let mut bad = b.clone();
        bad[2..10].copy_from_slice(&(-1.0f64).to_le_bytes());
        assert!(Lattice::read_prefix(&bad).is_err(), "negative step");
        bad[2..10].copy_from_slice(&f64::NAN.to_le_bytes());
        assert!(Lattice::read_prefix(&bad).is_err(), "NaN step");
        bad[0] = 7;
        assert!(Lattice::read_prefix(&bad).is_err(), "unknown form");
        let t = Lattice::Table(Table {
            values: vec![-0.0, 0.0, 0.01, 1.0, 2.0],
        });
        let mut b = Vec::new();
        t.write_prefix(&mut b);
        assert_eq!(Lattice::read_prefix(&b).expect("table").0, t);
        let mut one = Vec::new();
        one.extend_from_slice(&[2, 4]);
        one.extend_from_slice(&1.0f32.to_le_bytes());
        assert!(Lattice::read_prefix(&one).is_err(), "one value");
        let mut ragged = vec![2, 7];
        ragged.extend_from_slice(&[0; 7]);
        assert!(Lattice::read_prefix(&ragged).is_err(), "ragged");
        let mut swapped = b.clone();
        swapped[2 + 12..2 + 16].copy_from_slice(&5.0f32.to_le_bytes());
        assert!(Lattice::read_prefix(&swapped).is_err(), "not increasing");
    }

    #[test]
    fn few_uneven_values_get_a_table_and_come_back_exactly() {
        // Integer humidity with a few hundredths near 0, as GFS r has.
        let v: Vec<f32> = (0..6000)
            .map(|i| match i % 50 {
                0 => 0.01,
                1 => 0.03,
                _ => ((i * 7) % 101) as f32,
            })
            .collect();
        let f = field(v.clone());
        let (l, dev) = detect(&f).expect("table");
        assert!(matches!(l, Lattice::Table(_)) && dev == 0.0);
        assert!(l.pays(Target::Rmse(0.1), dev), "median gap 1");
        let mut k = l.indices(&Values::from(&f));
        for x in k.iter_mut() {
            *x -= 0.4;
        }
        l.restore(&mut k, None);
        assert!(k.iter().zip(&v).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
