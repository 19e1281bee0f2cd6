//! Writing a (decompressed) variable back into a NetCDF-3 file that opens
//! like the original.

use std::path::Path;

use hiha_core::field::{is_missing_marker, Field};
use hiha_core::meta::{Attr, AttrValue, DType, DatasetMeta};

use crate::atomic::{write_atomic, Existing};
use crate::cf;
use crate::error::{IoError, Result};
use crate::nc3::{OutDim, OutFile, OutVar, VarData};

/// Attributes of the data variable whose values are in packed units.
const VALUE_ATTRS: [&str; 5] = [
    "_FillValue",
    "missing_value",
    "valid_min",
    "valid_max",
    "valid_range",
];

/// The attributes of the data variable as written: float32 data, so packing
/// attributes go and value-like attributes become f32 in unpacked units.
pub(crate) fn output_var_attrs(meta: &DatasetMeta) -> Vec<Attr> {
    let attrs = &meta.var.attrs;
    let dtype = meta.var.dtype;
    let packing = cf::packing(attrs);
    let unsigned = cf::is_unsigned(attrs, dtype);
    let mut out = Vec::with_capacity(attrs.len());
    for a in attrs {
        match a.name.as_str() {
            "scale_factor" | "add_offset" if packing.is_some() => continue,
            "_Unsigned" if dtype != DType::F32 => continue,
            n if VALUE_ATTRS.contains(&n) => {
                if let (AttrValue::F32(_), None) = (&a.value, packing) {
                    out.push(a.clone());
                    continue;
                }
                let p = packing.unwrap_or(cf::Packing {
                    scale: 1.0,
                    offset: 0.0,
                });
                let vals = cf::attr_f64s(&a.value)
                    .into_iter()
                    .map(|x| {
                        let x = if unsigned {
                            cf::as_unsigned(x, dtype)
                        } else {
                            x
                        };
                        (x * p.scale + p.offset) as f32
                    })
                    .collect::<Vec<f32>>();
                if vals.is_empty() {
                    out.push(a.clone());
                } else {
                    out.push(Attr::new(a.name.clone(), AttrValue::F32(vals)));
                }
            }
            _ => out.push(a.clone()),
        }
    }
    out
}

/// The value written where the field is missing: `_FillValue`, else the
/// first `missing_value`, else NaN.
fn fill_value(attrs: &[Attr]) -> f32 {
    for name in ["_FillValue", "missing_value"] {
        if let Some(AttrValue::F32(v)) = cf::attr(attrs, name) {
            if let Some(&x) = v.first() {
                return x;
            }
        }
    }
    f32::NAN
}

/// Today's date as YYYY-MM-DDTHH:MM:SSZ (no time-zone library needed).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The global attributes with a `history` line appended.
fn output_global_attrs(meta: &DatasetMeta) -> Vec<Attr> {
    let line = format!(
        "{}: hiha-io {}: variable '{}' decompressed by hiha (lossy compression within the requested \
         error bound), written as float32",
        utc_now(),
        env!("CARGO_PKG_VERSION"),
        meta.var.name
    );
    let mut out = meta.global_attrs.clone();
    match out.iter_mut().find(|a| a.name == "history") {
        Some(a) => {
            let old = match &a.value {
                AttrValue::Text(s) => s.clone(),
                _ => String::new(),
            };
            let text = if old.is_empty() {
                line
            } else {
                format!("{old}\n{line}")
            };
            a.value = AttrValue::Text(text);
        }
        None => out.push(Attr::new("history", AttrValue::Text(line))),
    }
    out
}

/// Writes `field` as variable `meta.var.name` into a new NetCDF-3 file at
/// `path` (64-bit offset; CDF-5 only when a type or size needs it), with the
/// original dims (same order, same unlimited dim), every auxiliary variable
/// exactly as read, and the variable and global attributes. The variable is
/// float32; packing attributes are dropped and `_FillValue`/`missing_value`
/// are converted to the unpacked f32 value. Missing elements are written as
/// `_FillValue` (else `missing_value`, else NaN). A `history` line is appended.
///
/// An existing file at `path` is replaced; see [`write_variable_with`] to
/// refuse instead. The file appears complete or not at all (see
/// [`crate::atomic`]).
pub fn write_variable(path: &Path, field: &Field, meta: &DatasetMeta) -> Result<()> {
    write_variable_with(path, field, meta, Existing::Replace)
}

/// [`write_variable`], with the choice of what happens to an existing file
/// at `path`: with [`Existing::Refuse`] it is left alone and the call fails
/// with [`IoError::Exists`].
pub fn write_variable_with(
    path: &Path,
    field: &Field,
    meta: &DatasetMeta,
    existing: Existing,
) -> Result<()> {
    let layout = &meta.var.layout;
    let dim_index = |name: &str| -> Result<usize> {
        meta.dims
            .iter()
            .position(|d| d.name == name)
            .ok_or_else(|| {
                IoError::BadShape(format!(
                    "dim '{name}' is used by a variable but not defined in the metadata"
                ))
            })
    };
    // The field must match the variable's dims.
    let var_dimids = layout
        .dims
        .iter()
        .map(|d| dim_index(d))
        .collect::<Result<Vec<_>>>()?;
    let lens: Vec<usize> = var_dimids.iter().map(|&i| meta.dims[i].len).collect();
    let nd = lens.len();
    let s = field.shape;
    let levels = if layout.level_dim.is_some() {
        nd.checked_sub(3).map(|i| lens[i])
    } else {
        Some(1)
    };
    let frames = lens
        .get(..layout.frame_dims)
        .map(|f| f.iter().product::<usize>());
    let ok = nd >= 2
        && layout.frame_dims + 2 + usize::from(layout.level_dim.is_some()) == nd
        && frames == Some(s.frames)
        && levels == Some(s.levels)
        && lens[nd - 2] == s.lat
        && lens[nd - 1] == s.lon
        && layout.dims[nd - 2] == layout.lat_dim
        && layout.dims[nd - 1] == layout.lon_dim
        && field.values.len() == s.len()
        && !matches!(&field.missing, Some(m) if m.len() != s.len());
    if !ok {
        return Err(IoError::BadShape(format!(
            "field of shape {}×{}×{}×{} (frames×levels×lat×lon) does not match variable '{}' with dims \
             ({}) of lengths {:?}",
            s.frames,
            s.levels,
            s.lat,
            s.lon,
            meta.var.name,
            layout.dims.join(", "),
            lens
        )));
    }
    let var_attrs = output_var_attrs(meta);
    let fill = fill_value(&var_attrs);
    let values: Vec<f32> = field
        .values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            // Missing values get the fill value; NaN and infinities that
            // were data come back as they were.
            if field.is_missing(i) && is_missing_marker(v) {
                fill
            } else {
                v
            }
        })
        .collect();
    let global_attrs = output_global_attrs(meta);

    let mut vars = Vec::with_capacity(meta.aux_vars.len() + 1);
    for a in &meta.aux_vars {
        if a.name == meta.var.name {
            return Err(IoError::BadShape(format!(
                "auxiliary variable '{}' has the data variable's name",
                a.name
            )));
        }
        vars.push(OutVar {
            name: &a.name,
            dimids: a
                .dims
                .iter()
                .map(|d| dim_index(d))
                .collect::<Result<Vec<_>>>()?,
            dtype: a.dtype,
            attrs: &a.attrs,
            data: VarData::Coord(&a.data),
        });
    }
    vars.push(OutVar {
        name: &meta.var.name,
        dimids: var_dimids,
        dtype: DType::F32,
        attrs: &var_attrs,
        data: VarData::F32(&values),
    });

    // NetCDF-3 has one record dim, first in every variable using it.
    let record_dim = meta.dims.iter().position(|d| d.unlimited).filter(|&r| {
        vars.iter().all(|v| {
            !v.dimids.contains(&r) || (v.dimids[0] == r && v.dimids[1..].iter().all(|&d| d != r))
        })
    });
    let file = OutFile {
        dims: meta
            .dims
            .iter()
            .map(|d| OutDim {
                name: &d.name,
                len: d.len,
            })
            .collect(),
        record_dim,
        global_attrs: &global_attrs,
        vars,
    };
    let mut bytes = Vec::new();
    file.write(&mut bytes).map_err(|reason| IoError::Write {
        path: path.display().to_string(),
        reason,
    })?;
    // A unique partial file next to the target, fsynced, then renamed: a
    // failure or a concurrent writer never leaves or sees a half file.
    write_atomic(path, &bytes, existing)
}
