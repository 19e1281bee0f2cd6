//! Element-by-element statistics: per level, and over the whole variable.

use super::{quantile, ratio_or, Data, Grid};

/// The error statistics of one level, against that level's own range.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LevelStats {
    /// Level index in the variable.
    pub level: usize,
    /// Elements compared on this level (over every frame).
    pub n: usize,
    /// max − min of the original on this level.
    pub range: f64,
    pub rmse: f64,
    /// RMSE / range (0 for an exact constant level, `None` for an inexact one).
    pub nrmse: Option<f64>,
    pub max_abs: f64,
    /// Mean error x̂ − x on this level.
    pub bias: Option<f64>,
    /// Median of |x̂ − x| / |x| over the elements with x ≠ 0.
    pub median_rel: Option<f64>,
}

/// Shares (of the elements compared) of sign changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct SignChanges {
    /// x · x̂ < 0: the sign flipped (zeros on either side are not flips).
    pub flipped: f64,
    /// x ≠ 0 and x̂ = 0.
    pub to_zero: f64,
    /// x = 0 and x̂ ≠ 0.
    pub from_zero: f64,
    /// x ≥ 0 and x̂ < 0: a negative value where the original has none there
    /// (the non-negative-field check; includes the flips of positive values).
    pub new_negative: f64,
}

/// Whole-variable statistics.
pub(super) struct Global {
    pub n: usize,
    pub bias: Option<f64>,
    pub r2: Option<f64>,
    pub signs: SignChanges,
}

#[derive(Default, Clone)]
struct Acc {
    n: usize,
    lo: f64,
    hi: f64,
    sum_e: f64,
    sse: f64,
    max_abs: f64,
    rel: Vec<f64>,
}

pub(super) fn stats(g: &Grid, d: &Data) -> (Vec<LevelStats>, Global) {
    let mut accs = vec![
        Acc {
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
            ..Acc::default()
        };
        g.levels
    ];
    let (mut flipped, mut to_zero, mut from_zero, mut new_negative) = (0usize, 0usize, 0, 0);
    let mut sum_x = 0.0;
    for s in 0..g.slices {
        let a = &mut accs[g.level(s)];
        for i in s * g.plane..(s + 1) * g.plane {
            if !d.valid[i] {
                continue;
            }
            let (x, y) = (d.x[i], d.y[i]);
            let e = y - x;
            a.n += 1;
            a.lo = a.lo.min(x);
            a.hi = a.hi.max(x);
            a.sum_e += e;
            a.sse += e * e;
            a.max_abs = a.max_abs.max(e.abs());
            if x != 0.0 {
                a.rel.push(e.abs() / x.abs());
            }
            sum_x += x;
            flipped += usize::from(x * y < 0.0);
            to_zero += usize::from(x != 0.0 && y == 0.0);
            from_zero += usize::from(x == 0.0 && y != 0.0);
            new_negative += usize::from(x >= 0.0 && y < 0.0);
        }
    }
    let n: usize = accs.iter().map(|a| a.n).sum();
    let sse: f64 = accs.iter().map(|a| a.sse).sum();
    let sum_e: f64 = accs.iter().map(|a| a.sum_e).sum();
    // SST in a second pass around the mean, for accuracy.
    let mean_x = if n > 0 { sum_x / n as f64 } else { 0.0 };
    let sst: f64 = (0..d.x.len())
        .filter(|&i| d.valid[i])
        .map(|i| (d.x[i] - mean_x).powi(2))
        .sum();
    let share = |c: usize| if n > 0 { c as f64 / n as f64 } else { 0.0 };
    let global = Global {
        n,
        bias: (n > 0).then(|| sum_e / n as f64),
        r2: if n > 0 {
            ratio_or(sse, sst, 0.0).map(|r| 1.0 - r)
        } else {
            None
        },
        signs: SignChanges {
            flipped: share(flipped),
            to_zero: share(to_zero),
            from_zero: share(from_zero),
            new_negative: share(new_negative),
        },
    };
    let levels = accs
        .into_iter()
        .enumerate()
        .map(|(level, mut a)| {
            let range = if a.n > 0 { a.hi - a.lo } else { 0.0 };
            let rmse = if a.n > 0 {
                (a.sse / a.n as f64).sqrt()
            } else {
                0.0
            };
            LevelStats {
                level,
                n: a.n,
                range,
                rmse,
                nrmse: if a.n > 0 {
                    ratio_or(rmse, range, 0.0)
                } else {
                    None
                },
                max_abs: a.max_abs,
                bias: (a.n > 0).then(|| a.sum_e / a.n as f64),
                median_rel: quantile(&mut a.rel, 0.5),
            }
        })
        .collect();
    (levels, global)
}
