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

/// NetCDF's default fill value for float variables (`NC_FILL_FLOAT`).
pub const NC_FILL_FLOAT: f32 = 9.969_21e36;

/// The value written where the field is missing, and the attributes that
/// announce it. It is the variable's `_FillValue` (else its first
/// `missing_value`, else NaN) unless that could be mistaken for data: a
/// packed source's fill unpacks to a plausible value (268.37 K for an int16
/// t2m), and any fill that a reconstructed value equals would turn that
/// value into "missing". Then it is NetCDF's default float fill
/// ([`NC_FILL_FLOAT`], far outside any clamped reconstruction; NaN if even
/// that is taken), and `_FillValue`/`missing_value` say so.
fn choose_fill(meta: &DatasetMeta, attrs: &mut [Attr], field: &Field) -> f32 {
    let declared =
        ["_FillValue", "missing_value"]
            .iter()
            .find_map(|name| match cf::attr(attrs, name) {
                Some(AttrValue::F32(v)) => v.first().copied(),
                _ => None,
            });
    let Some(fill) = declared else {
        return f32::NAN;
    };
    let packed = cf::packing(&meta.var.attrs).is_some();
    let taken = |f: f32| {
        !f.is_nan()
            && field
                .values
                .iter()
                .enumerate()
                .any(|(i, &v)| v == f && !field.is_missing(i))
    };
    if !packed && !taken(fill) {
        return fill;
    }
    let new = if taken(NC_FILL_FLOAT) {
        f32::NAN
    } else {
        NC_FILL_FLOAT
    };
    for a in attrs.iter_mut() {
        if a.name == "_FillValue" || a.name == "missing_value" {
            a.value = AttrValue::F32(vec![new]);
        }
    }
    new
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
fn output_global_attrs(meta: &DatasetMeta, names: &[&str]) -> Vec<Attr> {
    let line = format!(
        "{}: hiha-io {}: {} '{}' decompressed by hiha (lossy compression within the requested \
         error bound), written as float32",
        utc_now(),
        env!("CARGO_PKG_VERSION"),
        if names.len() > 1 {
            "variables"
        } else {
            "variable"
        },
        names.join("', '")
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
    write_dataset_with(path, &[(field, meta)], existing)
}

/// Writes several variables of one dataset into one NetCDF-3 file, as
/// [`write_variable`] does for one. The dims, global attributes and
/// auxiliary variables are those of the first variable's metadata (the
/// others must have the same dims); each variable is float32 with its own
/// attributes and fill value.
pub fn write_dataset_with(
    path: &Path,
    items: &[(&Field, &DatasetMeta)],
    existing: Existing,
) -> Result<()> {
    let Some(&(_, meta)) = items.first() else {
        return Err(IoError::BadShape("no variables to write".into()));
    };
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
    let mut prepared = Vec::with_capacity(items.len());
    for &(field, m) in items {
        if m.dims != meta.dims {
            return Err(IoError::BadShape(format!(
                "variable '{}' has other dims than '{}': they cannot share a file",
                m.var.name, meta.var.name
            )));
        }
        if items
            .iter()
            .filter(|(_, o)| o.var.name == m.var.name)
            .count()
            > 1
        {
            return Err(IoError::BadShape(format!(
                "variable '{}' is given twice",
                m.var.name
            )));
        }
        prepared.push(prepare_var(field, m, &dim_index)?);
    }
    let names: Vec<&str> = items.iter().map(|(_, m)| m.var.name.as_str()).collect();
    let global_attrs = output_global_attrs(meta, &names);

    let mut vars = Vec::with_capacity(meta.aux_vars.len() + items.len());
    for a in &meta.aux_vars {
        if names.contains(&a.name.as_str()) {
            return Err(IoError::BadShape(format!(
                "auxiliary variable '{}' has a data variable's name",
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
    for (p, (_, m)) in prepared.iter().zip(items) {
        vars.push(OutVar {
            name: &m.var.name,
            dimids: p.dimids.clone(),
            dtype: DType::F32,
            attrs: &p.attrs,
            data: VarData::F32(&p.values),
        });
    }

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

/// A data variable ready to write: its dim ids, attributes and values
/// (missing elements replaced by the fill value).
struct PreparedVar {
    dimids: Vec<usize>,
    attrs: Vec<Attr>,
    values: Vec<f32>,
}

fn prepare_var(
    field: &Field,
    meta: &DatasetMeta,
    dim_index: &dyn Fn(&str) -> Result<usize>,
) -> Result<PreparedVar> {
    let layout = &meta.var.layout;
    // The field must match the variable's dims.
    let dimids = layout
        .dims
        .iter()
        .map(|d| dim_index(d))
        .collect::<Result<Vec<_>>>()?;
    let lens: Vec<usize> = dimids.iter().map(|&i| meta.dims[i].len).collect();
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
    let mut attrs = output_var_attrs(meta);
    let fill = choose_fill(meta, &mut attrs, field);
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
    Ok(PreparedVar {
        dimids,
        attrs,
        values,
    })
}
