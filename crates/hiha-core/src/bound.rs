//! Accuracy modes: what the user asks for, and how to check it.
//!
//! The user asks for accuracy, never for network sizes. Every mode is
//! verified on every element after encoding (see [`Bound::check`]).

use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// The accuracy the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Bound {
    /// RMSE / (max − min) over the whole variable must not exceed this.
    Nrmse(f64),
    /// |x − x̂| must not exceed this, pointwise, in the variable's units.
    MaxAbs(f64),
    /// |x − x̂| must not exceed this × (max − min), pointwise.
    MaxRel(f64),
    /// RMSE over the whole variable must not exceed this, in the variable's
    /// units (absolute). Unlike [`Bound::Nrmse`] it does not depend on the
    /// value range, so a bound asked per part of a variable (a Zarr chunk)
    /// also bounds the RMSE of the whole: the mean of squares of the parts
    /// is at most the largest.
    Rmse(f64),
}

impl Bound {
    /// Refuses non-finite or non-positive tolerances.
    pub fn validate(&self) -> Result<()> {
        let (name, v) = match *self {
            Bound::Nrmse(v) => ("--nrmse", v),
            Bound::MaxAbs(v) => ("--max-abs", v),
            Bound::MaxRel(v) => ("--max-rel", v),
            Bound::Rmse(v) => ("--rmse", v),
        };
        if !v.is_finite() || v <= 0.0 {
            return Err(Error::InvalidInput(format!(
                "{name} must be a finite number above 0, got {v}"
            )));
        }
        if matches!(self, Bound::Nrmse(_) | Bound::MaxRel(_)) && v >= 1.0 {
            return Err(Error::InvalidInput(format!(
                "{name} is relative to the value range and must be below 1, got {v}"
            )));
        }
        Ok(())
    }

    /// The pointwise absolute bound implied by this mode for a field whose
    /// value range is `range`, or `None` for the NRMSE and RMSE modes (which
    /// bound a mean, not each element).
    pub fn pointwise_abs(&self, range: f64) -> Option<f64> {
        match *self {
            Bound::Nrmse(_) | Bound::Rmse(_) => None,
            Bound::MaxAbs(e) => Some(e),
            Bound::MaxRel(r) => Some(r * range),
        }
    }

    /// The largest RMSE this mode allows for a field of range `range`
    /// (pointwise modes allow at most their pointwise bound).
    pub fn rmse_budget(&self, range: f64) -> f64 {
        match *self {
            Bound::Nrmse(t) => t * range,
            Bound::MaxAbs(e) => e,
            Bound::MaxRel(r) => r * range,
            Bound::Rmse(e) => e,
        }
    }

    /// Checks measured metrics against the mode. A violation is an error.
    pub fn check(&self, m: &Metrics) -> Result<()> {
        let ok = match *self {
            Bound::Nrmse(t) => m.nrmse <= t,
            Bound::MaxAbs(e) => m.max_abs <= e,
            Bound::MaxRel(r) => m.max_abs <= r * m.range,
            Bound::Rmse(e) => m.rmse <= e,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::BoundViolated(format!(
                "asked for {self}, achieved RMSE {:.3e}, NRMSE {:.3e}, max abs error {:.3e} \
                 (range {:.6e})",
                m.rmse, m.nrmse, m.max_abs, m.range
            )))
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::Nrmse(v) => write!(f, "NRMSE <= {v:e}"),
            Bound::MaxAbs(v) => write!(f, "max abs error <= {v:e}"),
            Bound::MaxRel(v) => write!(f, "max error <= {v:e} x range"),
            Bound::Rmse(v) => write!(f, "RMSE <= {v:e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_refuses_nonsense() {
        assert!(Bound::Nrmse(0.0).validate().is_err());
        assert!(Bound::Nrmse(f64::NAN).validate().is_err());
        assert!(Bound::MaxRel(1.5).validate().is_err());
        assert!(Bound::MaxAbs(-1.0).validate().is_err());
        assert!(Bound::MaxAbs(10.0).validate().is_ok());
        assert!(Bound::Nrmse(1e-4).validate().is_ok());
        assert!(Bound::Rmse(0.0).validate().is_err());
        assert!(Bound::Rmse(f64::INFINITY).validate().is_err());
        // Absolute, so not limited to below 1 like the relative modes.
        assert!(Bound::Rmse(25.0).validate().is_ok());
    }

    #[test]
    fn rmse_is_an_absolute_mean_bound() {
        let b = Bound::Rmse(0.5);
        assert_eq!(b.pointwise_abs(10.0), None);
        assert_eq!(b.rmse_budget(10.0), 0.5);
        assert_eq!(b.rmse_budget(1e6), 0.5);
        assert_eq!(b.to_string(), "RMSE <= 5e-1");
    }

    #[test]
    fn check_detects_violation() {
        let m = Metrics {
            n: 4,
            range: 10.0,
            rmse: 0.5,
            nrmse: 0.05,
            psnr: 26.0,
            max_abs: 1.0,
        };
        assert!(Bound::Nrmse(0.1).check(&m).is_ok());
        assert!(Bound::Nrmse(0.01).check(&m).is_err());
        assert!(Bound::MaxAbs(1.0).check(&m).is_ok());
        assert!(Bound::MaxAbs(0.99).check(&m).is_err());
        assert!(Bound::MaxRel(0.1).check(&m).is_ok());
        assert!(Bound::MaxRel(0.09).check(&m).is_err());
        assert!(Bound::Rmse(0.5).check(&m).is_ok());
        let e = Bound::Rmse(0.49).check(&m).unwrap_err().to_string();
        assert!(e.contains("RMSE 5.000e-1"), "{e}");
    }
}
