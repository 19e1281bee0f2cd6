//! Bounds: the grammar shared with the CLI (`MODE:VALUE[:per-level]`) and
//! the per-variable sets of `[VAR=]MODE:VALUE` terms.

use hiha_core::bound::{Bound as CoreBound, BoundSet, BoundSpec};
use hiha_core::Error as CoreError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The core's messages name the CLI's flags; Python users wrote a bound
/// string or a keyword, so name the grammar's modes instead.
pub(crate) fn bound_msg(e: &CoreError) -> String {
    e.to_string()
        .replace("--max-abs", "max-abs")
        .replace("--max-rel", "max-rel")
        .replace("--nrmse", "nrmse")
        .replace("--rmse", "rmse")
        .replace("--pw-rel", "pw-rel")
}

/// Parses a bound of the grammar shared with the CLI (`MODE:VALUE[:per-level]`,
/// see `hiha_core::bound::Bound::parse`): ValueError with the core's message.
pub(crate) fn parse_spec(spec: &str) -> PyResult<CoreBound> {
    CoreBound::parse(spec).map_err(|e| PyValueError::new_err(bound_msg(&e)))
}

/// Parses a bound that may carry the `:keep-zeros` flag
/// (`MODE:VALUE[:per-level][:keep-zeros]`, `hiha_core::bound::BoundSpec`).
pub(crate) fn parse_full(spec: &str) -> PyResult<BoundSpec> {
    BoundSpec::parse(spec).map_err(|e| PyValueError::new_err(bound_msg(&e)))
}

/// The mode of a bound as the grammar writes it, and whether it is per level.
pub(crate) fn mode_of(b: &CoreBound) -> (&'static str, f64, bool) {
    match *b {
        CoreBound::Nrmse(v) => ("nrmse", v, false),
        CoreBound::Rmse(v) => ("rmse", v, false),
        CoreBound::MaxAbs(v) => ("max-abs", v, false),
        CoreBound::MaxRel(v) => ("max-rel", v, false),
        CoreBound::NrmseLevel(v) => ("nrmse", v, true),
        CoreBound::MaxRelLevel(v) => ("max-rel", v, true),
        CoreBound::PwRel(v) => ("pw-rel", v, false),
        CoreBound::Spread(v) => ("spread", v, false),
    }
}

/// Parses one bound of the grammar shared with the CLI's `--bound` and the
/// config file's `[bounds]`: `MODE:VALUE[:per-level]`. Returns `(mode,
/// value, per_level, spec)` with the mode as the grammar spells it
/// (`nrmse`, `rmse`, `max-abs`, `max-rel`, `pw-rel`) and `spec` the
/// canonical string. ValueError when it does not parse or is out of range.
#[pyfunction]
pub(crate) fn parse_bound(spec: &str) -> PyResult<(&'static str, f64, bool, String)> {
    let b = parse_full(spec)?;
    let (mode, v, per_level) = mode_of(&b.bound);
    Ok((mode, v, per_level, b.spec()))
}

/// The bound of each of `names` from the terms `[VAR=]MODE:VALUE` (the
/// CLI's repeated `--bound`; a later term for the same variable wins, a
/// term without `VAR=` sets the default), as canonical specs in the order
/// of `names`. ValueError for a term that does not parse, a term naming no
/// variable of `names`, or (when `required`) a variable left without a
/// bound; without `required` such a variable gets `None`.
#[pyfunction]
#[pyo3(signature = (terms, names, required=true))]
pub(crate) fn resolve_bounds(
    terms: Vec<String>,
    names: Vec<String>,
    required: bool,
) -> PyResult<Vec<Option<String>>> {
    let mut set = BoundSet::default();
    for t in &terms {
        set.add(t)
            .map_err(|e| PyValueError::new_err(bound_msg(&e)))?;
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let unknown = set.unknown(&refs);
    if !unknown.is_empty() {
        return Err(PyValueError::new_err(format!(
            "a bound names {}, which is not among the variables written ({})",
            unknown.join(", "),
            names.join(", ")
        )));
    }
    names
        .iter()
        .map(|n| match set.for_var(n) {
            Some(b) => Ok(Some(
                BoundSpec {
                    bound: b,
                    keep_zeros: set.keep_zeros_for(n),
                }
                .spec(),
            )),
            None if !required => Ok(None),
            None => Err(PyValueError::new_err(format!(
                "no bound for variable '{n}': give a default bound (e.g. bound=\"nrmse:1e-4\") \
                     or one for it ({n}=MODE:VALUE)"
            ))),
        })
        .collect()
}

pub(crate) fn bound_parts(b: &CoreBound) -> (&'static str, f64) {
    match *b {
        CoreBound::Nrmse(v) => ("nrmse", v),
        CoreBound::Rmse(v) => ("rmse", v),
        CoreBound::MaxAbs(v) => ("max_abs", v),
        CoreBound::MaxRel(v) => ("max_rel", v),
        CoreBound::NrmseLevel(v) => ("nrmse_per_level", v),
        CoreBound::MaxRelLevel(v) => ("max_rel_per_level", v),
        CoreBound::PwRel(v) => ("pw_rel", v),
        CoreBound::Spread(v) => ("spread", v),
    }
}
