//! The coarsest quantisation step that meets an error target.
//!
//! Both residual paths quantise with one step (per level) and must find the
//! largest step whose error stays within the target. Each trial is a full
//! quantisation and reconstruction of the block, so the number of trials is
//! the encoder's cost. The error of a uniform quantiser grows as a power of
//! its step (RMSE ∝ Δ at fine steps, less at coarse ones), so the search
//! fits that power law through its last trials (secant steps on log–log
//! scale) instead of bisecting: 2–4 trials instead of 7–10, to the same
//! precision.

/// A trial whose error is at least this fraction of the target (in the
/// error's own units, see [`Search::gamma`]) ends the search: the step is
/// then within about 0.2 % of the coarsest one.
const CLOSE_RMSE: f64 = 0.998;
/// The search also ends when the bracket is this narrow.
const NARROW: f64 = 1.005;
/// At most this many trials.
const MAX_TRIALS: usize = 40;

/// What to search for.
pub(crate) struct Search {
    /// The error a step must not exceed.
    pub target: f64,
    /// The first step tried.
    pub start: f64,
    /// The smallest step allowed (a failure there ends the search).
    pub min: f64,
    /// A step above which the error cannot grow any more (every index is
    /// zero): success there ends the search.
    pub max: f64,
    /// The expected exponent of error against step: 1 for an RMSE, 2 for a
    /// sum of squares.
    pub gamma: f64,
}

impl Search {
    /// Runs `trial(step) -> (error, result)` and returns the largest step
    /// tried whose error is at most the target, with its result; `None`
    /// when even [`Search::min`] fails.
    pub(crate) fn run<T>(&self, mut trial: impl FnMut(f64) -> (f64, T)) -> Option<(f64, T)> {
        self.run_or_stop(|s| Some(trial(s)))
            .unwrap_or_else(|| unreachable!("the trials never stop the search"))
    }

    /// [`Search::run`] with trials that may stop the search (`None`): then
    /// the answer is `None` too, else `Some` of what `run` returns.
    pub(crate) fn run_or_stop<T>(
        &self,
        mut trial: impl FnMut(f64) -> Option<(f64, T)>,
    ) -> Option<Option<(f64, T)>> {
        let close = CLOSE_RMSE.powf(self.gamma);
        // Aim a little below the target so that a good guess lands inside.
        let aim = self.target * 0.999f64.powf(self.gamma);
        let mut lo: Option<(f64, f64, T)> = None;
        let mut hi: Option<(f64, f64)> = None;
        let mut last: Option<(f64, f64)> = None;
        let mut step = self.start.max(self.min);
        for _ in 0..MAX_TRIALS {
            let (e, value) = trial(step)?;
            // The exponent seen between this trial and the previous one.
            let mut gamma = self.gamma;
            if let Some((s0, e0)) = last {
                if e > 0.0 && e0 > 0.0 && s0 != step {
                    let g = (e / e0).ln() / (step / s0).ln();
                    if g.is_finite() {
                        gamma = g.clamp(0.25 * self.gamma, 3.0 * self.gamma);
                    }
                }
            }
            last = Some((step, e));
            if e <= self.target {
                if lo.as_ref().is_none_or(|l| step > l.0) {
                    lo = Some((step, e, value));
                }
                if e >= close * self.target || step >= self.max {
                    break;
                }
            } else {
                if hi.is_none_or(|h| step < h.0) {
                    hi = Some((step, e));
                }
                if lo.is_none() && step <= self.min {
                    return Some(None);
                }
            }
            step = match (&lo, hi) {
                (Some((sl, el, _)), Some((sh, eh))) => {
                    if sh / sl < NARROW {
                        break;
                    }
                    // Interpolate log step against log error, kept well
                    // inside the bracket so that it always shrinks.
                    let t = if *el > 0.0 && eh > *el {
                        ((aim / el).ln() / (eh / el).ln()).clamp(0.1, 0.9)
                    } else {
                        0.5
                    };
                    sl * (sh / sl).powf(t)
                }
                (Some((sl, el, _)), None) => {
                    let f = if *el > 0.0 {
                        (aim / el).powf(1.0 / gamma)
                    } else {
                        4.0
                    };
                    let next = (sl * f.clamp(1.05, 4.0)).min(self.max);
                    if !next.is_finite() {
                        break;
                    }
                    next
                }
                (None, Some((sh, eh))) => {
                    let f = (aim / eh).powf(1.0 / gamma);
                    (sh * f.clamp(0.25, 0.95)).max(self.min)
                }
                (None, None) => unreachable!("every trial sets lo or hi"),
            };
        }
        Some(lo.map(|(s, _, v)| (s, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finds the coarsest step of monotone error curves to the promised
    /// precision, in few trials.
    #[test]
    fn finds_the_coarsest_step_of_power_laws() {
        for (c, g, target) in [
            (0.29, 1.0, 1e-3),
            (0.29, 1.0, 10.0),
            (3.0, 2.0, 5e-7),
            (0.1, 0.6, 0.02),
            (1.0, 1.7, 1e4),
        ] {
            let curve = |s: f64| c * s.powf(g);
            let want = (target / c).powf(1.0 / g);
            for start in [want * 1e-3, want * 0.7, want, want * 1.3, want * 1e3] {
                let mut n = 0;
                let search = Search {
                    target,
                    start,
                    min: want * 1e-9,
                    max: f64::INFINITY,
                    gamma: if g > 1.2 { 2.0 } else { 1.0 },
                };
                let (s, ()) = search
                    .run(|s| {
                        n += 1;
                        (curve(s), ())
                    })
                    .expect("found");
                assert!(curve(s) <= target, "{c} {g} {target} {start}");
                assert!(s >= want * 0.99, "{s} vs {want} ({c} {g} {start})");
                assert!(n <= 12, "{n} trials ({c} {g} {start})");
            }
        }
    }

    /// A curve with plateaus and jumps (a dead-zone quantiser at coarse
    /// steps) still ends with a step that meets the target.
    #[test]
    fn stairs_and_failures() {
        let curve = |s: f64| (s * 4.0).floor() * 0.25 + 0.01;
        let search = Search {
            target: 1.3,
            start: 0.1,
            min: 1e-6,
            max: f64::INFINITY,
            gamma: 1.0,
        };
        let (s, ()) = search.run(|s| (curve(s), ())).expect("found");
        assert!(curve(s) <= 1.3);
        assert!(s >= 1.24, "{s}");
        // Nothing meets a target below the error floor.
        let floor = Search {
            target: 0.001,
            start: 1.0,
            min: 1e-3,
            max: f64::INFINITY,
            gamma: 1.0,
        };
        assert!(floor.run(|s| (curve(s), ())).is_none());
        // A flat curve stops at `max`.
        let mut n = 0;
        let flat = Search {
            target: 1.0,
            start: 1.0,
            min: 1e-6,
            max: 1e3,
            gamma: 1.0,
        };
        let (s, ()) = flat
            .run(|_| {
                n += 1;
                (0.5, ())
            })
            .expect("found");
        assert_eq!(s, 1e3);
        assert!(n <= 8, "{n}");
    }
}
