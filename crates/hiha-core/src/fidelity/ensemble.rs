//! Error against the ensemble spread.

use crate::error::{Error, Result};
use crate::meta::DatasetMeta;

use super::{quantile, Data, Grid};

/// Names of a dim that holds ensemble members.
pub const MEMBER_DIMS: [&str; 3] = ["number", "realization", "member"];

/// Where the members lie among the flattened frames: frame
/// `f = (outer · members + m) · stride + inner` holds member `m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Ensemble {
    pub members: usize,
    /// Product of the lengths of the frame dims after the member dim.
    pub stride: usize,
}

impl Ensemble {
    /// Finds the member dim ([`MEMBER_DIMS`]) among the variable's frame
    /// dims; `None` when there is none, it has fewer than 2 members, or the
    /// dims do not multiply to `frames`.
    pub fn from_meta(meta: &DatasetMeta, frames: usize) -> Option<Self> {
        let layout = &meta.var.layout;
        let fdims = layout.dims.get(..layout.frame_dims)?;
        let lens: Vec<usize> = fdims
            .iter()
            .map(|d| meta.dim(d).map(|d| d.len))
            .collect::<Option<_>>()?;
        let total = lens.iter().try_fold(1usize, |a, &l| a.checked_mul(l))?;
        if total != frames {
            return None;
        }
        let k = fdims
            .iter()
            .position(|d| MEMBER_DIMS.contains(&d.as_str()))?;
        let stride = lens[k + 1..]
            .iter()
            .try_fold(1usize, |a, &l| a.checked_mul(l))?;
        (lens[k] >= 2).then_some(Self {
            members: lens[k],
            stride,
        })
    }
}

/// |x̂ − x| ÷ spread, with the spread the standard deviation over members
/// of the original at the same point (sample, n − 1).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SpreadRatio {
    pub members: usize,
    /// Median (nearest rank).
    pub median: f64,
    /// 99th percentile (nearest rank).
    pub p99: f64,
    pub max: f64,
    /// Elements scored.
    pub n: usize,
    /// Elements left out because the spread is 0 there (or fewer than 2
    /// members are valid).
    pub zero_spread: usize,
}

pub(super) fn spread_ratio(g: &Grid, d: &Data, e: Ensemble) -> Result<Option<SpreadRatio>> {
    let group = e
        .members
        .checked_mul(e.stride)
        .filter(|&gsz| gsz > 0 && g.frames.is_multiple_of(gsz))
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "{} members with stride {} do not divide {} frames",
                e.members, e.stride, g.frames
            ))
        })?;
    let flen = g.plane.checked_mul(g.levels).unwrap_or(0);
    let mut ratios = Vec::new();
    let mut zero_spread = 0usize;
    let mut vals = Vec::with_capacity(e.members);
    for outer in 0..g.frames / group {
        for inner in 0..e.stride {
            let frame = |m: usize| (outer * e.members + m) * e.stride + inner;
            for p in 0..flen {
                vals.clear();
                for m in 0..e.members {
                    let i = frame(m) * flen + p;
                    if d.valid[i] {
                        vals.push(i);
                    }
                }
                let n = vals.len();
                let spread = if n >= 2 {
                    let mean = vals.iter().map(|&i| d.x[i]).sum::<f64>() / n as f64;
                    let ss: f64 = vals.iter().map(|&i| (d.x[i] - mean).powi(2)).sum();
                    (ss / (n - 1) as f64).sqrt()
                } else {
                    0.0
                };
                if !(spread > 0.0 && spread.is_finite()) {
                    zero_spread += n;
                    continue;
                }
                ratios.extend(vals.iter().map(|&i| (d.y[i] - d.x[i]).abs() / spread));
            }
        }
    }
    let n = ratios.len();
    let max = ratios.iter().copied().fold(0.0, f64::max);
    let (Some(median), Some(p99)) = (quantile(&mut ratios, 0.5), quantile(&mut ratios, 0.99))
    else {
        return Ok(None);
    };
    Ok(Some(SpreadRatio {
        members: e.members,
        median,
        p99,
        max,
        n,
        zero_spread,
    }))
}
