//! Prediction orders for the SZ-style residual path.
//!
//! Two traversals of an N-D block (N ≤ 4) share one [`Visitor`] interface:
//! - the SZ3-style multilevel interpolation: the origin first, then for each
//!   level (stride `s = 2^(level−1)`, coarse to fine) and each axis `d`, every
//!   point whose coordinate along `d` is an odd multiple of `s` is predicted
//!   along `d` from its already reconstructed neighbours at `±s` (linear) or
//!   `±s, ±3s` (cubic, quadratic at the edges);
//! - Lorenzo: row-major order, prediction by inclusion–exclusion over the
//!   previous neighbours along the last three axes.
//!
//! Predictions are always made from *reconstructed* values (the visitor
//! returns the value the decoder will also have), so quantisation errors do
//! not accumulate. The encoder and the decoder run the same traversal, so the
//! predictions are bit-identical.

/// Marker for "no such neighbour".
pub(crate) const NONE: usize = usize::MAX;

/// Which predictor a payload uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Predictor {
    Linear = 0,
    Cubic = 1,
    Lorenzo = 2,
}

impl Predictor {
    pub(crate) fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Linear),
            1 => Some(Self::Cubic),
            2 => Some(Self::Lorenzo),
            _ => None,
        }
    }
}

/// The block's shape with axes of length 1 removed and left-padded to 4 axes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grid {
    pub n: [usize; 4],
    pub stride: [usize; 4],
    pub len: usize,
}

impl Grid {
    /// `dims` must have been validated (product fits in usize).
    pub(crate) fn new(dims: &[usize]) -> Self {
        let real: Vec<usize> = dims.iter().copied().filter(|&d| d != 1).collect();
        let mut n = [1usize; 4];
        let k = real.len().min(4);
        // More than 4 non-unit axes cannot happen (dims has at most 4), but
        // fold any excess into the leading axis to stay total.
        if real.len() > 4 {
            let lead: usize = real[..real.len() - 3].iter().product();
            n = [
                lead,
                real[real.len() - 3],
                real[real.len() - 2],
                real[real.len() - 1],
            ];
        } else {
            for (i, &d) in real.iter().enumerate() {
                n[4 - k + i] = d;
            }
        }
        let stride = [n[1] * n[2] * n[3], n[2] * n[3], n[3], 1];
        Self {
            n,
            stride,
            len: n.iter().product(),
        }
    }

    /// Number of interpolation levels: the smallest `L` with `2^L ≥ max n`.
    pub(crate) fn levels(&self) -> u32 {
        let m = self.n.iter().copied().max().unwrap_or(1);
        if m <= 1 {
            0
        } else {
            usize::BITS - (m - 1).leading_zeros()
        }
    }
}

/// What the traversal calls for every element, in coding order.
pub(crate) trait Visitor {
    /// `pred` is the prediction from reconstructed values; `na`, `nb` are two
    /// previously visited neighbours of the same kind (for context modelling,
    /// [`NONE`] when absent); `level` is the interpolation level (1 = finest;
    /// always 1 for Lorenzo). Returns the reconstructed value at `idx`.
    fn visit(&mut self, idx: usize, pred: f64, na: usize, nb: usize, level: u32) -> f64;
}

/// Runs `pred` over the grid, writing reconstructed values into `recon`.
pub(crate) fn traverse<V: Visitor>(grid: &Grid, pred: Predictor, recon: &mut [f64], v: &mut V) {
    debug_assert_eq!(recon.len(), grid.len);
    if grid.len == 0 {
        return;
    }
    match pred {
        Predictor::Linear => interp::<V, false>(grid, recon, v),
        Predictor::Cubic => interp::<V, true>(grid, recon, v),
        Predictor::Lorenzo => lorenzo(grid, recon, v),
    }
}

#[inline(always)]
fn predict<const CUBIC: bool>(r: &[f64], i: usize, o: usize, c: usize, s: usize, n: usize) -> f64 {
    let has_r = c + s < n;
    let has_l3 = c >= 3 * s;
    if CUBIC {
        let has_r3 = c + 3 * s < n;
        match (has_l3, has_r, has_r3) {
            (true, true, true) => {
                (-r[i - 3 * o] + 9.0 * r[i - o] + 9.0 * r[i + o] - r[i + 3 * o]) * (1.0 / 16.0)
            }
            (false, true, true) => (3.0 * r[i - o] + 6.0 * r[i + o] - r[i + 3 * o]) * 0.125,
            (true, true, false) => (-r[i - 3 * o] + 6.0 * r[i - o] + 3.0 * r[i + o]) * 0.125,
            (false, true, false) => (r[i - o] + r[i + o]) * 0.5,
            (true, false, _) => 1.5 * r[i - o] - 0.5 * r[i - 3 * o],
            (false, false, _) => r[i - o],
        }
    } else if has_r {
        (r[i - o] + r[i + o]) * 0.5
    } else if has_l3 {
        1.5 * r[i - o] - 0.5 * r[i - 3 * o]
    } else {
        r[i - o]
    }
}

fn interp<V: Visitor, const CUBIC: bool>(g: &Grid, recon: &mut [f64], v: &mut V) {
    let levels = g.levels();
    recon[0] = v.visit(0, 0.0, NONE, NONE, levels.max(1));
    let [n0, n1, n2, n3] = g.n;
    let [st0, st1, st2, _] = g.stride;
    for level in (1..=levels).rev() {
        let s = 1usize << (level - 1);
        for d in 0..4 {
            if g.n[d] <= s {
                continue;
            }
            let mut begin = [0usize; 4];
            let mut step = [0usize; 4];
            for a in 0..4 {
                step[a] = if a < d { s } else { 2 * s };
                begin[a] = if a == d { s } else { 0 };
            }
            let o = s * g.stride[d];
            for c0 in (begin[0]..n0).step_by(step[0]) {
                for c1 in (begin[1]..n1).step_by(step[1]) {
                    for c2 in (begin[2]..n2).step_by(step[2]) {
                        let base = c0 * st0 + c1 * st1 + c2 * st2;
                        let nb_ok = c2 >= begin[2] + step[2];
                        let nb_off = step[2] * st2;
                        if d == 3 {
                            for c3 in (s..n3).step_by(2 * s) {
                                let i = base + c3;
                                let p = predict::<CUBIC>(recon, i, o, c3, s, n3);
                                let na = if c3 >= 3 * s { i - 2 * s } else { NONE };
                                let nb = if nb_ok { i - nb_off } else { NONE };
                                recon[i] = v.visit(i, p, na, nb, level);
                            }
                        } else {
                            let cd = [c0, c1, c2][d];
                            let nd = g.n[d];
                            let s3 = step[3];
                            for c3 in (0..n3).step_by(s3) {
                                let i = base + c3;
                                let p = predict::<CUBIC>(recon, i, o, cd, s, nd);
                                let na = if c3 >= s3 { i - s3 } else { NONE };
                                let nb = if nb_ok { i - nb_off } else { NONE };
                                recon[i] = v.visit(i, p, na, nb, level);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn lorenzo<V: Visitor>(g: &Grid, recon: &mut [f64], v: &mut V) {
    let [n0, n1, n2, n3] = g.n;
    let [st0, st1, st2, _] = g.stride;
    // For each pattern of "coordinate > 0" on axes 1..3 (bit 2 = axis 1,
    // bit 1 = axis 2, bit 0 = axis 3): the inclusion–exclusion terms.
    let mut terms: [[(usize, f64); 7]; 8] = [[(0, 0.0); 7]; 8];
    let mut nterms = [0usize; 8];
    let axis_stride = [st1, st2, 1];
    for pat in 0..8usize {
        for sub in 1..8usize {
            if sub & !pat != 0 {
                continue;
            }
            let mut off = 0;
            for (b, &st) in axis_stride.iter().enumerate() {
                if sub & (4 >> b) != 0 {
                    off += st;
                }
            }
            let sign = if sub.count_ones() % 2 == 1 { 1.0 } else { -1.0 };
            terms[pat][nterms[pat]] = (off, sign);
            nterms[pat] += 1;
        }
    }
    for c0 in 0..n0 {
        for c1 in 0..n1 {
            for c2 in 0..n2 {
                let base = c0 * st0 + c1 * st1 + c2 * st2;
                let pat_hi = (usize::from(c1 > 0) << 2) | (usize::from(c2 > 0) << 1);
                for c3 in 0..n3 {
                    let i = base + c3;
                    let pat = pat_hi | usize::from(c3 > 0);
                    let p = if pat == 0 {
                        if c0 > 0 {
                            recon[i - st0]
                        } else {
                            0.0
                        }
                    } else {
                        let mut acc = 0.0;
                        for &(off, sign) in &terms[pat][..nterms[pat]] {
                            acc += sign * recon[i - off];
                        }
                        acc
                    };
                    let na = if c3 > 0 { i - 1 } else { NONE };
                    let nb = if c2 > 0 { i - st2 } else { NONE };
                    recon[i] = v.visit(i, p, na, nb, 1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Count(Vec<u32>);
    impl Visitor for Count {
        fn visit(&mut self, idx: usize, _: f64, na: usize, nb: usize, _: u32) -> f64 {
            self.0[idx] += 1;
            // Context neighbours must have been visited already.
            assert!(na == NONE || self.0[na] == 1);
            assert!(nb == NONE || self.0[nb] == 1);
            idx as f64
        }
    }

    #[test]
    fn every_element_is_visited_once() {
        for dims in [
            vec![1],
            vec![7],
            vec![2, 3],
            vec![5, 1, 9],
            vec![4, 2, 61, 120],
            vec![3, 5, 1, 17],
            vec![1, 1, 1, 2],
        ] {
            let g = Grid::new(&dims);
            for p in [Predictor::Linear, Predictor::Cubic, Predictor::Lorenzo] {
                let mut c = Count(vec![0; g.len]);
                let mut r = vec![0.0; g.len];
                traverse(&g, p, &mut r, &mut c);
                assert!(c.0.iter().all(|&k| k == 1), "{dims:?} {p:?}");
            }
        }
    }
}
