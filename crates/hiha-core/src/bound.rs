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
    /// [`Bound::Nrmse`] on every level: each level's RMSE over its own
    /// range (max − min of that level) must not exceed this.
    NrmseLevel(f64),
    /// [`Bound::MaxRel`] on every level: |x − x̂| must not exceed this ×
    /// the element's level's range, pointwise.
    MaxRelLevel(f64),
    /// |x − x̂| must not exceed this × |x|, pointwise: zero stays zero and
    /// no value changes sign (checked element by element by the codec;
    /// [`Bound::check`] on metrics cannot see it).
    PwRel(f64),
    /// |x − x̂| must not exceed this × the ensemble spread at the element's
    /// point (the standard deviation over members, n − 1), pointwise, the
    /// way ClimateBenchPress sets its bounds; where the spread is 0 the
    /// value comes back exact (checked element by element by the codec,
    /// `spread.rs`).
    Spread(f64),
}

impl Bound {
    /// Refuses non-finite or non-positive tolerances.
    pub fn validate(&self) -> Result<()> {
        let (name, v) = match *self {
            Bound::Nrmse(v) => ("--nrmse", v),
            Bound::MaxAbs(v) => ("--max-abs", v),
            Bound::MaxRel(v) => ("--max-rel", v),
            Bound::Rmse(v) => ("--rmse", v),
            Bound::NrmseLevel(v) => ("--nrmse (per level)", v),
            Bound::MaxRelLevel(v) => ("--max-rel (per level)", v),
            Bound::PwRel(v) => ("--pw-rel", v),
            Bound::Spread(v) => ("spread", v),
        };
        if !v.is_finite() || v <= 0.0 {
            return Err(Error::InvalidInput(format!(
                "{name} must be a finite number above 0, got {v}"
            )));
        }
        if self.is_relative() && v >= 1.0 {
            return Err(Error::InvalidInput(format!(
                "{name} is relative to the value range and must be below 1, got {v}"
            )));
        }
        Ok(())
    }

    /// The pointwise absolute bound implied by this mode for a field whose
    /// value range is `range`, or `None` for the NRMSE and RMSE modes (which
    /// bound a mean, not each element).
    ///
    /// For the per-level modes `range` is the level's range.
    pub fn pointwise_abs(&self, range: f64) -> Option<f64> {
        match *self {
            Bound::Nrmse(_)
            | Bound::Rmse(_)
            | Bound::NrmseLevel(_)
            | Bound::PwRel(_)
            | Bound::Spread(_) => None,
            Bound::MaxAbs(e) => Some(e),
            Bound::MaxRel(r) | Bound::MaxRelLevel(r) => Some(r * range),
        }
    }

    /// True for the modes relative to a value range (below 1).
    pub fn is_relative(&self) -> bool {
        matches!(
            self,
            Bound::Nrmse(_)
                | Bound::MaxRel(_)
                | Bound::NrmseLevel(_)
                | Bound::MaxRelLevel(_)
                | Bound::PwRel(_)
        )
    }

    /// True for the modes that hold on each level against its own range.
    pub fn is_per_level(&self) -> bool {
        matches!(self, Bound::NrmseLevel(_) | Bound::MaxRelLevel(_))
    }

    /// The per-level form of this mode (`--per-level`), or `None` for the
    /// modes that have none (max-abs is the same on every level already;
    /// an absolute RMSE per level is not offered).
    pub fn per_level(&self) -> Option<Bound> {
        match *self {
            Bound::Nrmse(v) | Bound::NrmseLevel(v) => Some(Bound::NrmseLevel(v)),
            Bound::MaxRel(v) | Bound::MaxRelLevel(v) => Some(Bound::MaxRelLevel(v)),
            Bound::MaxAbs(_) | Bound::Rmse(_) | Bound::PwRel(_) | Bound::Spread(_) => None,
        }
    }

    /// The largest RMSE this mode allows for a field of range `range`
    /// (pointwise modes allow at most their pointwise bound). The spread
    /// bound has none (its budget varies by point, and its coder target
    /// comes from the spread map): infinite, so that chunking never takes
    /// it for a fine bound.
    pub fn rmse_budget(&self, range: f64) -> f64 {
        match *self {
            Bound::Nrmse(t) | Bound::NrmseLevel(t) => t * range,
            Bound::MaxAbs(e) => e,
            Bound::MaxRel(r) | Bound::MaxRelLevel(r) | Bound::PwRel(r) => r * range,
            Bound::Rmse(e) => e,
            Bound::Spread(_) => f64::INFINITY,
        }
    }

    /// Checks measured metrics against the mode. A violation is an error.
    ///
    /// A per-level mode checks `m` as the metrics of one level; see
    /// [`Bound::check_levels`].
    pub fn check(&self, m: &Metrics) -> Result<()> {
        let ok = match *self {
            Bound::Nrmse(t) | Bound::NrmseLevel(t) => m.nrmse <= t,
            Bound::MaxAbs(e) => m.max_abs <= e,
            Bound::MaxRel(r) | Bound::MaxRelLevel(r) => m.max_abs <= r * m.range,
            Bound::Rmse(e) => m.rmse <= e,
            // Pointwise against each |x|: summary metrics cannot see it; the
            // codec checks it element by element (`pw_rel::worst`).
            Bound::PwRel(_) => true,
            // Pointwise against each point's spread: the codec checks it
            // element by element (`spread::worst`).
            Bound::Spread(_) => true,
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

/// The modes of the bound grammar, as written: `MODE:VALUE`.
pub const MODE_NAMES: [&str; 6] = ["nrmse", "rmse", "max-abs", "max-rel", "pw-rel", "spread"];

/// The flags a bound term may carry after `MODE:VALUE`: `per-level`, and
/// `keep-zeros` (exact zeros of the input come back exactly zero, and no
/// value changes sign).
pub const FLAG_NAMES: [&str; 2] = ["per-level", "keep-zeros"];

impl Bound {
    /// Parses one bound of the grammar shared by the CLI (`--bound`), the
    /// config file (`[bounds]`) and Python (`bound=`): `MODE:VALUE`, where
    /// MODE is `nrmse`, `rmse`, `max-abs` or `max-rel` (`_` may replace
    /// `-`, case is ignored) and VALUE a number. The value is validated.
    ///
    /// A third part `:per-level` asks for the bound on every level against
    /// that level's own range (nrmse and max-rel): `nrmse:1e-3:per-level`.
    pub fn parse(text: &str) -> Result<Bound> {
        let t = text.trim();
        if BoundSpec::strip_keep_zeros(t).is_some() {
            return Err(Error::InvalidInput(format!(
                "bound '{t}': ':keep-zeros' is a flag of a bound term, not a bound (parse the \
                 term with BoundSpec::parse or BoundSet::add)"
            )));
        }
        if let Some(base) = t
            .strip_suffix(":per-level")
            .or_else(|| t.strip_suffix(":per_level"))
        {
            let b = Bound::parse(base)?;
            return b.per_level().ok_or_else(|| {
                Error::InvalidInput(format!(
                    "bound '{t}': only nrmse and max-rel have a per-level form (max-abs is the same \
                     on every level)"
                ))
            });
        }
        let (mode, value) = t.split_once(':').ok_or_else(|| {
            Error::InvalidInput(format!(
                "bound '{t}' is not MODE:VALUE (MODE one of {}), e.g. nrmse:1e-4",
                MODE_NAMES.join(", ")
            ))
        })?;
        let v: f64 = value.trim().parse().map_err(|_| {
            Error::InvalidInput(format!("bound '{t}': '{}' is not a number", value.trim()))
        })?;
        let b = match mode.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "nrmse" => Bound::Nrmse(v),
            "rmse" => Bound::Rmse(v),
            "max-abs" | "abs" => Bound::MaxAbs(v),
            "max-rel" | "rel" => Bound::MaxRel(v),
            "pw-rel" | "pwrel" => Bound::PwRel(v),
            "spread" => Bound::Spread(v),
            m => {
                return Err(Error::InvalidInput(format!(
                    "bound '{t}': unknown mode '{m}' (known: {})",
                    MODE_NAMES.join(", ")
                )))
            }
        };
        b.validate()?;
        Ok(b)
    }

    /// The bound in the grammar of [`Bound::parse`], e.g. `max-abs:0.05`.
    pub fn spec(&self) -> String {
        match *self {
            Bound::Nrmse(v) => format!("nrmse:{v}"),
            Bound::Rmse(v) => format!("rmse:{v}"),
            Bound::MaxAbs(v) => format!("max-abs:{v}"),
            Bound::MaxRel(v) => format!("max-rel:{v}"),
            Bound::NrmseLevel(v) => format!("nrmse:{v}:per-level"),
            Bound::MaxRelLevel(v) => format!("max-rel:{v}:per-level"),
            Bound::PwRel(v) => format!("pw-rel:{v}"),
            Bound::Spread(v) => format!("spread:{v}"),
        }
    }
}

/// A bound term of the grammar with its flags: `MODE:VALUE[:per-level]
/// [:keep-zeros]` (flags in either order). `keep-zeros` asks that every
/// exact zero of the input comes back exactly zero and that no value
/// changes sign (a value may come back 0 where the bound allows it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundSpec {
    pub bound: Bound,
    pub keep_zeros: bool,
}

impl BoundSpec {
    /// The term without a `:keep-zeros` flag (anywhere after `MODE:VALUE`),
    /// or `None` when it has none.
    fn strip_keep_zeros(t: &str) -> Option<String> {
        let parts: Vec<&str> = t.split(':').collect();
        let is_flag = |p: &str| {
            matches!(
                p.trim().to_ascii_lowercase().replace('_', "-").as_str(),
                "keep-zeros"
            )
        };
        if parts.len() < 3 || !parts[2..].iter().any(|p| is_flag(p)) {
            return None;
        }
        let kept: Vec<&str> = parts
            .iter()
            .enumerate()
            .filter(|(i, p)| *i < 2 || !is_flag(p))
            .map(|(_, p)| *p)
            .collect();
        Some(kept.join(":"))
    }

    /// Parses `MODE:VALUE[:per-level][:keep-zeros]`.
    pub fn parse(text: &str) -> Result<BoundSpec> {
        let t = text.trim();
        match Self::strip_keep_zeros(t) {
            Some(rest) => Ok(BoundSpec {
                bound: Bound::parse(&rest)?,
                keep_zeros: true,
            }),
            None => Ok(BoundSpec {
                bound: Bound::parse(t)?,
                keep_zeros: false,
            }),
        }
    }

    /// The term in the grammar of [`BoundSpec::parse`].
    pub fn spec(&self) -> String {
        if self.keep_zeros {
            format!("{}:keep-zeros", self.bound.spec())
        } else {
            self.bound.spec()
        }
    }
}

/// Bounds for the variables of a dataset: one default and per-variable
/// overrides, written `[VAR=]MODE:VALUE` (see [`Bound::parse`]); the same
/// strings in the CLI's repeated `--bound`, the config file's `[bounds]`
/// table (`default = "nrmse:1e-4"`, `q = "max-abs:1e-7"`) and Python's
/// `bounds={...}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoundSet {
    pub default: Option<Bound>,
    /// Per variable, in the order given; a later entry for the same
    /// variable replaces an earlier one.
    pub per_var: Vec<(String, Bound)>,
    /// The default term carried `:keep-zeros`.
    pub default_keep_zeros: bool,
    /// The variables whose own term carried `:keep-zeros`.
    pub keep_zeros_vars: Vec<String>,
}

impl BoundSet {
    /// Adds one `[VAR=]MODE:VALUE` term. A term without `VAR=` sets the
    /// default.
    pub fn add(&mut self, term: &str) -> Result<()> {
        let t = term.trim();
        match t.split_once('=') {
            Some((var, rest)) => {
                let var = var.trim();
                if var.is_empty() {
                    return Err(Error::InvalidInput(format!(
                        "bound '{t}': the variable name before '=' is empty"
                    )));
                }
                let b = BoundSpec::parse(rest)?;
                self.set(var, b.bound);
                self.keep_zeros_vars.retain(|v| v != var);
                if b.keep_zeros {
                    self.keep_zeros_vars.push(var.to_string());
                }
            }
            None => {
                let b = BoundSpec::parse(t)?;
                self.default = Some(b.bound);
                self.default_keep_zeros = b.keep_zeros;
            }
        }
        Ok(())
    }

    /// Whether variable `var` keeps its zeros: its own term's flag, else
    /// the default term's.
    pub fn keep_zeros_for(&self, var: &str) -> bool {
        if self.per_var.iter().any(|(v, _)| v == var) {
            self.keep_zeros_vars.iter().any(|v| v == var)
        } else {
            self.default_keep_zeros
        }
    }

    /// Sets the bound of one variable.
    pub fn set(&mut self, var: &str, b: Bound) {
        self.per_var.retain(|(v, _)| v != var);
        self.per_var.push((var.to_string(), b));
    }

    /// The bound for variable `var`: its own, else the default.
    pub fn for_var(&self, var: &str) -> Option<Bound> {
        self.per_var
            .iter()
            .find(|(v, _)| v == var)
            .map(|(_, b)| *b)
            .or(self.default)
    }

    /// Per-variable bounds naming none of `vars` (likely typos).
    pub fn unknown<'a>(&'a self, vars: &[&str]) -> Vec<&'a str> {
        self.per_var
            .iter()
            .map(|(v, _)| v.as_str())
            .filter(|v| !vars.contains(v))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.per_var.is_empty()
    }
}

impl Bound {
    /// Checks a per-level mode on the metrics of every level (each against
    /// its own range); names the first level that fails.
    pub fn check_levels(&self, levels: &[Metrics]) -> Result<()> {
        for (l, m) in levels.iter().enumerate() {
            self.check(m).map_err(|e| match e {
                Error::BoundViolated(msg) => Error::BoundViolated(format!("level {l}: {msg}")),
                e => e,
            })?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::Nrmse(v) => write!(f, "NRMSE <= {v:e}"),
            Bound::MaxAbs(v) => write!(f, "max abs error <= {v:e}"),
            Bound::MaxRel(v) => write!(f, "max error <= {v:e} x range"),
            Bound::Rmse(v) => write!(f, "RMSE <= {v:e}"),
            Bound::NrmseLevel(v) => write!(f, "NRMSE <= {v:e} on every level"),
            Bound::MaxRelLevel(v) => write!(f, "max error <= {v:e} x level range"),
            Bound::PwRel(v) => write!(f, "|error| <= {v:e} x |value| on every element"),
            Bound::Spread(v) => write!(f, "|error| <= {v:e} x ensemble spread on every element"),
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
    fn grammar_parses_and_round_trips() {
        assert_eq!(Bound::parse("nrmse:1e-4").unwrap(), Bound::Nrmse(1e-4));
        assert_eq!(Bound::parse(" MAX_ABS : 0.5 ").unwrap(), Bound::MaxAbs(0.5));
        assert_eq!(Bound::parse("max-rel:1e-3").unwrap(), Bound::MaxRel(1e-3));
        assert_eq!(Bound::parse("rmse:2").unwrap(), Bound::Rmse(2.0));
        for b in [
            Bound::Nrmse(1e-5),
            Bound::Rmse(0.25),
            Bound::MaxAbs(1e-7),
            Bound::MaxRel(0.01),
            Bound::NrmseLevel(1e-3),
            Bound::MaxRelLevel(1e-4),
            Bound::PwRel(1e-2),
        ] {
            assert_eq!(Bound::parse(&b.spec()).unwrap(), b);
        }
        assert_eq!(
            Bound::parse("nrmse:1e-3:per-level").unwrap(),
            Bound::NrmseLevel(1e-3)
        );
        for bad in [
            "nrmse",
            "nrmse:x",
            "psnr:40",
            "nrmse:2",
            "max-abs:-1",
            ":1",
            "max-abs:1:per-level",
            "nrmse:2:per-level",
        ] {
            assert!(Bound::parse(bad).is_err(), "{bad}");
        }
        let e = Bound::parse("psnr:40").unwrap_err().to_string();
        assert!(
            e.contains("unknown mode 'psnr'") && e.contains("max-abs"),
            "{e}"
        );
    }

    #[test]
    fn spread_and_keep_zeros_parse() {
        assert_eq!(Bound::parse("spread:1").unwrap(), Bound::Spread(1.0));
        assert_eq!(Bound::parse("SPREAD:2.5").unwrap(), Bound::Spread(2.5));
        assert_eq!(
            Bound::parse(&Bound::Spread(0.5).spec()).unwrap(),
            Bound::Spread(0.5)
        );
        for bad in ["spread:0", "spread:-1", "spread:inf", "spread:1:per-level"] {
            assert!(Bound::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Bound::Spread(1.0).pointwise_abs(10.0), None);
        // keep-zeros is a flag of a term, in either order with per-level.
        let k = BoundSpec::parse("nrmse:1e-3:keep-zeros").unwrap();
        assert_eq!((k.bound, k.keep_zeros), (Bound::Nrmse(1e-3), true));
        let k = BoundSpec::parse("nrmse:1e-3:keep_zeros:per-level").unwrap();
        assert_eq!((k.bound, k.keep_zeros), (Bound::NrmseLevel(1e-3), true));
        let k = BoundSpec::parse("max-rel:1e-3:per-level:keep-zeros").unwrap();
        assert_eq!((k.bound, k.keep_zeros), (Bound::MaxRelLevel(1e-3), true));
        assert_eq!(BoundSpec::parse(&k.spec()).unwrap(), k);
        let k = BoundSpec::parse("spread:1").unwrap();
        assert_eq!((k.bound, k.keep_zeros), (Bound::Spread(1.0), false));
        assert!(Bound::parse("nrmse:1e-3:keep-zeros").is_err());
        assert!(BoundSpec::parse("keep-zeros:1").is_err());
        assert!(BoundSpec::parse("nrmse:1e-3:keep-zeros:bogus").is_err());
        let mut s = BoundSet::default();
        s.add("nrmse:1e-4:keep-zeros").unwrap();
        s.add("t=max-abs:0.1").unwrap();
        s.add("q=max-abs:1e-7:keep-zeros").unwrap();
        assert!(s.keep_zeros_for("u") && !s.keep_zeros_for("t") && s.keep_zeros_for("q"));
        s.add("q=max-abs:1e-7").unwrap();
        assert!(!s.keep_zeros_for("q"));
        s.add("spread:1").unwrap();
        assert!(!s.keep_zeros_for("u"));
        assert_eq!(s.for_var("u"), Some(Bound::Spread(1.0)));
    }

    #[test]
    fn bound_set_defaults_and_overrides() {
        let mut s = BoundSet::default();
        s.add("nrmse:1e-4").unwrap();
        s.add("q=max-abs:1e-7").unwrap();
        s.add("q=max-abs:1e-8").unwrap();
        assert_eq!(s.for_var("t"), Some(Bound::Nrmse(1e-4)));
        assert_eq!(s.for_var("q"), Some(Bound::MaxAbs(1e-8)));
        assert_eq!(s.per_var.len(), 1);
        assert_eq!(s.unknown(&["t", "u"]), vec!["q"]);
        assert!(s.add("=nrmse:1e-3").is_err());
        assert!(BoundSet::default().for_var("t").is_none());
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
