//! Writing decompressed variables back into a NetCDF file that opens like
//! the original: NetCDF-4 with zlib and shuffle ([`OutputFormat::Nc4`], the
//! `nc4` module) or NetCDF-3 ([`OutputFormat::Nc3`], the `nc3` module). A
//! variable whose source was CF-packed is written packed again, in the
//! source's integer type with its own `scale_factor`/`add_offset`, when the
//! encoder verified that the values rounded to that lattice keep the bound
//! ([`OutputVar::repack`]); otherwise as float32.

use std::path::Path;

use hiha_core::field::{is_missing_marker, Field, Packing, Shape};
use hiha_core::meta::{Attr, AttrValue, CoordData, DType, DatasetMeta};

use crate::atomic::{write_atomic, Existing};
use crate::cf;
use crate::error::{IoError, Result};
use crate::nc3::{OutDim, OutFile, OutVar, VarData};
pub use crate::prepared::VarEncoding;
use crate::prepared::{PreparedDataset, PreparedVar, VarValues};

/// The container a dataset is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// NetCDF-3 (64-bit offset; CDF-5 when a type or size needs it), no
    /// compression: readable by every NetCDF tool, however old.
    Nc3,
    /// NetCDF-4/HDF5, every data variable chunked by 2-D field and
    /// compressed with shuffle + zlib (needs the `netcdf4` feature).
    Nc4,
}

/// One data variable to write.
#[derive(Debug, Clone, Copy)]
pub struct OutputVar<'a> {
    pub field: &'a Field,
    pub meta: &'a DatasetMeta,
    /// The lattice onto which the encoder verified that this variable's
    /// reconstruction may be re-packed within its bound
    /// (`hiha_core::codec::repacking`). When it has the offset the
    /// variable's attributes declare and their scale times a power of two,
    /// and every value fits the source's integer type, the variable is
    /// written packed in that type with the source's attributes
    /// (`scale_factor` and any valid range in the lattice's units);
    /// otherwise (or with `None`) as float32.
    pub repack: Option<Packing>,
}

/// What [`write_netcdf`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// Size of the file.
    pub bytes: u64,
    /// Each data variable's name and encoding, in the order given.
    pub vars: Vec<(String, VarEncoding)>,
}

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
    let mut taken = |f: f32| {
        Some(
            !f.is_nan()
                && field
                    .values
                    .iter()
                    .enumerate()
                    .any(|(i, &v)| v == f && !field.is_missing(i)),
        )
    };
    // `taken` always answers, so the choice is always made.
    choose_fill_by(meta, attrs, &mut taken).unwrap_or(f32::NAN)
}

/// [`choose_fill`] with `taken(f)` saying whether a valid value equals
/// `f`, or `None` when it cannot tell: then the choice cannot be made
/// either (`None`, and `attrs` is left as it was).
pub(crate) fn choose_fill_by(
    meta: &DatasetMeta,
    attrs: &mut [Attr],
    taken: &mut dyn FnMut(f32) -> Option<bool>,
) -> Option<f32> {
    let declared =
        ["_FillValue", "missing_value"]
            .iter()
            .find_map(|name| match cf::attr(attrs, name) {
                Some(AttrValue::F32(v)) => v.first().copied(),
                _ => None,
            });
    let Some(fill) = declared else {
        return Some(f32::NAN);
    };
    let packed = cf::packing(&meta.var.attrs).is_some();
    if !packed && !taken(fill)? {
        return Some(fill);
    }
    let new = if taken(NC_FILL_FLOAT)? {
        f32::NAN
    } else {
        NC_FILL_FLOAT
    };
    for a in attrs.iter_mut() {
        if a.name == "_FillValue" || a.name == "missing_value" {
            a.value = AttrValue::F32(vec![new]);
        }
    }
    Some(new)
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

/// How a variable is written, in words, for the `history` line.
fn encoding_words(e: &VarEncoding) -> String {
    match e {
        VarEncoding::Packed { dtype, multiple: 1 } => format!(
            "{} packed with the source's scale_factor/add_offset (re-packing verified within \
             the bound)",
            dtype_name(*dtype)
        ),
        VarEncoding::Packed { dtype, multiple } => format!(
            "{} packed with the source's add_offset and {multiple} x its scale_factor \
             (re-packing verified within the bound)",
            dtype_name(*dtype)
        ),
        VarEncoding::Float32 { .. } => "float32".to_string(),
    }
}

/// The CDL name of a type.
fn dtype_name(t: DType) -> &'static str {
    match t {
        DType::I8 => "byte",
        DType::U8 => "ubyte",
        DType::I16 => "short",
        DType::U16 => "ushort",
        DType::I32 => "int",
        DType::U32 => "uint",
        DType::I64 => "int64",
        DType::U64 => "uint64",
        DType::F32 => "float",
        DType::F64 => "double",
        DType::Char => "char",
    }
}

/// The global attributes with a `history` line appended, saying how each
/// variable was written.
pub(crate) fn output_global_attrs(meta: &DatasetMeta, vars: &[(&str, &VarEncoding)]) -> Vec<Attr> {
    let names: Vec<&str> = vars.iter().map(|(n, _)| *n).collect();
    let same = vars.windows(2).all(|w| w[0].1 == w[1].1);
    let how = match vars.first() {
        Some((_, e)) if same => encoding_words(e),
        _ => vars
            .iter()
            .map(|(n, e)| format!("'{n}' as {}", encoding_words(e)))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let line = format!(
        "{}: hiha-io {}: {} '{}' decompressed by hiha (lossy compression within the requested \
         error bound), written as {how}",
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
    let vars: Vec<OutputVar> = items
        .iter()
        .map(|&(field, meta)| OutputVar {
            field,
            meta,
            repack: None,
        })
        .collect();
    write_netcdf(path, &vars, OutputFormat::Nc3, existing).map(|_| ())
}

/// Writes the data variables `vars` of one dataset into one NetCDF file of
/// format `format`, with the dims, global attributes and auxiliary
/// variables of the first variable's metadata (the others must have the
/// same dims). Each variable is written packed in its source's integer
/// type when [`OutputVar::repack`] allows it, else as float32 (see
/// [`VarEncoding`]). The file appears complete or not at all
/// ([`crate::atomic`]); `existing` says what happens to a file already at
/// `path`.
pub fn write_netcdf(
    path: &Path,
    vars: &[OutputVar],
    format: OutputFormat,
    existing: Existing,
) -> Result<Written> {
    let data = prepare_dataset(vars)?;
    let bytes = match format {
        OutputFormat::Nc3 => encode_nc3(&data),
        OutputFormat::Nc4 => encode_nc4(&data),
    }
    .map_err(|reason| IoError::Write {
        path: path.display().to_string(),
        reason,
    })?;
    // A unique partial file next to the target, fsynced, then renamed: a
    // failure or a concurrent writer never leaves or sees a half file.
    write_atomic(path, &bytes, existing)?;
    Ok(Written {
        bytes: bytes.len() as u64,
        vars: data
            .vars
            .iter()
            .map(|v| (v.name.to_string(), v.encoding.clone()))
            .collect(),
    })
}

#[cfg(feature = "netcdf4")]
fn encode_nc4(data: &PreparedDataset) -> std::result::Result<Vec<u8>, String> {
    crate::nc4::encode(data)
}

#[cfg(not(feature = "netcdf4"))]
fn encode_nc4(_data: &PreparedDataset) -> std::result::Result<Vec<u8>, String> {
    Err("NetCDF-4 output is not supported in this build (feature `netcdf4`); use NetCDF-3".into())
}

/// The dims' indices in the metadata of every dim a variable uses.
pub(crate) fn dim_ids(meta: &DatasetMeta, dims: &[String]) -> Result<Vec<usize>> {
    dims.iter()
        .map(|name| {
            meta.dims
                .iter()
                .position(|d| d.name == *name)
                .ok_or_else(|| {
                    IoError::BadShape(format!(
                        "dim '{name}' is used by a variable but not defined in the metadata"
                    ))
                })
        })
        .collect()
}

/// Checks that the variables `metas` (the first one's metadata describing
/// the file) can share one file: the same dims, distinct names, and no
/// name taken by an auxiliary variable.
pub(crate) fn check_sharing(metas: &[&DatasetMeta]) -> Result<()> {
    let Some(meta) = metas.first() else {
        return Err(IoError::BadShape("no variables to write".into()));
    };
    for m in metas {
        if m.dims != meta.dims {
            return Err(IoError::BadShape(format!(
                "variable '{}' has other dims than '{}': they cannot share a file",
                m.var.name, meta.var.name
            )));
        }
        if metas.iter().filter(|o| o.var.name == m.var.name).count() > 1 {
            return Err(IoError::BadShape(format!(
                "variable '{}' is given twice",
                m.var.name
            )));
        }
        if meta.aux_vars.iter().any(|a| a.name == m.var.name) {
            return Err(IoError::BadShape(format!(
                "auxiliary variable '{}' has a data variable's name",
                m.var.name
            )));
        }
    }
    Ok(())
}

pub(crate) fn prepare_dataset<'a>(items: &[OutputVar<'a>]) -> Result<PreparedDataset<'a>> {
    let Some(first) = items.first() else {
        return Err(IoError::BadShape("no variables to write".into()));
    };
    let meta = first.meta;
    let mut prepared = Vec::with_capacity(items.len());
    let metas: Vec<&DatasetMeta> = items.iter().map(|i| i.meta).collect();
    check_sharing(&metas)?;
    for item in items {
        prepared.push(prepare_var(item)?);
    }
    for a in &meta.aux_vars {
        dim_ids(meta, &a.dims)?;
    }
    let described: Vec<(&str, &VarEncoding)> =
        prepared.iter().map(|p| (p.name, &p.encoding)).collect();
    let global_attrs = output_global_attrs(meta, &described);
    Ok(PreparedDataset {
        meta,
        global_attrs,
        vars: prepared,
    })
}

/// Encodes a prepared dataset as NetCDF-3.
fn encode_nc3(data: &PreparedDataset) -> std::result::Result<Vec<u8>, String> {
    let data_vars = data
        .vars
        .iter()
        .map(|p| OutVar {
            name: p.name,
            dimids: p.dimids.clone(),
            dtype: p.dtype(),
            attrs: &p.attrs,
            data: match &p.data {
                VarValues::F32(v) => VarData::F32(v),
                VarValues::Packed { data, .. } => VarData::Coord(data),
            },
        })
        .collect();
    let file = nc3_file(data.meta, &data.global_attrs, data_vars)?;
    let mut bytes = Vec::new();
    file.write(&mut bytes)?;
    Ok(bytes)
}

/// The NetCDF-3 file of `meta`'s dims and auxiliary variables, with the
/// data variables `data_vars` after them.
pub(crate) fn nc3_file<'a>(
    meta: &'a DatasetMeta,
    global_attrs: &'a [Attr],
    data_vars: Vec<OutVar<'a>>,
) -> std::result::Result<OutFile<'a>, String> {
    let mut vars = Vec::with_capacity(meta.aux_vars.len() + data_vars.len());
    for a in &meta.aux_vars {
        vars.push(OutVar {
            name: &a.name,
            dimids: dim_ids(meta, &a.dims).map_err(|e| e.to_string())?,
            dtype: a.dtype,
            attrs: &a.attrs,
            data: VarData::Coord(&a.data),
        });
    }
    vars.extend(data_vars);
    // NetCDF-3 has one record dim, first in every variable using it.
    let record_dim = meta.dims.iter().position(|d| d.unlimited).filter(|&r| {
        vars.iter().all(|v| {
            !v.dimids.contains(&r) || (v.dimids[0] == r && v.dimids[1..].iter().all(|&d| d != r))
        })
    });
    Ok(OutFile {
        dims: meta
            .dims
            .iter()
            .map(|d| OutDim {
                name: &d.name,
                len: d.len,
            })
            .collect(),
        record_dim,
        global_attrs,
        vars,
    })
}

/// The dim ids of the data variable of `meta`, checked against the shape
/// of the field written into it (`lengths_ok`: its value and mask lengths
/// match the shape).
pub(crate) fn var_dimids(meta: &DatasetMeta, s: &Shape, lengths_ok: bool) -> Result<Vec<usize>> {
    let layout = &meta.var.layout;
    // The field must match the variable's dims.
    let dimids = dim_ids(meta, &layout.dims)?;
    let lens: Vec<usize> = dimids.iter().map(|&i| meta.dims[i].len).collect();
    let nd = lens.len();
    let levels = if layout.level_dim.is_some() {
        nd.checked_sub(3).map(|i| lens[i])
    } else {
        Some(1)
    };
    let frames = lens
        .get(..layout.frame_dims)
        .map(|f| f.iter().try_fold(1usize, |a, &b| a.checked_mul(b)));
    let ok = nd >= 2
        && layout.frame_dims + 2 + usize::from(layout.level_dim.is_some()) == nd
        && frames == Some(Some(s.frames))
        && levels == Some(s.levels)
        && lens[nd - 2] == s.lat
        && lens[nd - 1] == s.lon
        && layout.dims[nd - 2] == layout.lat_dim
        && layout.dims[nd - 1] == layout.lon_dim
        && lengths_ok;
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
    Ok(dimids)
}

fn prepare_var<'a>(item: &OutputVar<'a>) -> Result<PreparedVar<'a>> {
    let (field, meta) = (item.field, item.meta);
    let s = field.shape;
    let lengths_ok = s.checked_len().ok() == Some(field.values.len())
        && !matches!(&field.missing, Some(m) if m.len() != field.values.len());
    let dimids = var_dimids(meta, &s, lengths_ok)?;
    let reason = match item.repack {
        None => None,
        Some(p) => match repack(field, meta, p) {
            Ok((data, attrs, multiple)) => {
                return Ok(PreparedVar {
                    name: &meta.var.name,
                    dimids,
                    attrs,
                    encoding: VarEncoding::Packed {
                        dtype: meta.var.dtype,
                        multiple,
                    },
                    data,
                });
            }
            Err(why) => Some(why),
        },
    };
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
        name: &meta.var.name,
        dimids,
        attrs,
        data: VarValues::F32(values),
        encoding: VarEncoding::Float32 { reason },
    })
}

/// The range of lattice indices an integer type holds (as the reader sees
/// them: `_Unsigned = "true"` makes a signed type unsigned), or `None` for
/// types that are not re-packed into.
pub(crate) fn index_range(dtype: DType, unsigned: bool) -> Option<(f64, f64)> {
    let bits = match dtype {
        DType::I8 | DType::U8 => 8,
        DType::I16 | DType::U16 => 16,
        DType::I32 | DType::U32 => 32,
        _ => return None,
    };
    let native_unsigned = matches!(dtype, DType::U8 | DType::U16 | DType::U32);
    let span = f64::from(2u32.pow(bits - 1)) * 2.0;
    Some(if unsigned || native_unsigned {
        (0.0, span - 1.0)
    } else {
        (-span / 2.0, span / 2.0 - 1.0)
    })
}

/// Integer values (already checked to fit) in [`CoordData`]'s convention
/// for `dtype`.
fn raw_data(dtype: DType, raw: Vec<i64>) -> Option<CoordData> {
    macro_rules! conv {
        ($t:ty, $variant:ident) => {
            raw.into_iter()
                .map(|x| <$t>::try_from(x).ok())
                .collect::<Option<Vec<$t>>>()
                .map(CoordData::$variant)
        };
    }
    match dtype {
        DType::I8 => conv!(i8, I8),
        DType::U8 => conv!(u8, U8),
        DType::I16 => conv!(i16, I16),
        DType::U16 => raw
            .into_iter()
            .map(|x| u16::try_from(x).ok().map(i32::from))
            .collect::<Option<Vec<i32>>>()
            .map(CoordData::I32),
        DType::I32 => conv!(i32, I32),
        DType::U32 => raw
            .into_iter()
            .map(|x| u32::try_from(x).ok().map(i64::from))
            .collect::<Option<Vec<i64>>>()
            .map(CoordData::I64),
        _ => None,
    }
}

/// The power of two `m` with `p.scale == m · declared.scale` (and the same
/// offset), if there is one.
fn lattice_multiple(declared: cf::Packing, p: Packing) -> Option<u32> {
    if declared.offset.to_bits() != p.offset.to_bits() || declared.scale == 0.0 {
        return None;
    }
    (0..32)
        .map(|j| 1u32 << j)
        .find(|&m| (declared.scale * f64::from(m)).to_bits() == p.scale.to_bits())
}

/// A packing attribute with value `x`, in the type of `like` when `x` is
/// exact in it (an f32 scale times a power of two is), else as f64.
fn packing_attr(like: &AttrValue, x: f64) -> AttrValue {
    match like {
        AttrValue::F32(_) if (x as f32) as f64 == x => AttrValue::F32(vec![x as f32]),
        _ => AttrValue::F64(vec![x]),
    }
}

/// Integer values as an attribute of `dtype` (`None` when one does not fit).
fn int_attr(dtype: DType, raw: Vec<i64>) -> Option<AttrValue> {
    macro_rules! conv {
        ($t:ty, $variant:ident) => {
            raw.into_iter()
                .map(|x| <$t>::try_from(x).ok())
                .collect::<Option<Vec<$t>>>()
                .map(AttrValue::$variant)
        };
    }
    match dtype {
        DType::I8 => conv!(i8, I8),
        DType::U8 => conv!(u8, U8),
        DType::I16 => conv!(i16, I16),
        DType::U16 => conv!(u16, U16),
        DType::I32 => conv!(i32, I32),
        DType::U32 => conv!(u32, U32),
        _ => None,
    }
}

/// The variable's values re-packed onto the lattice `p`, in the source's
/// integer type, with the attributes that declare it, and the lattice
/// multiple; or why they cannot be: `p` is not the declared packing or a
/// power-of-two multiple of it, a value would fall outside the type or
/// valid range or onto a fill/missing value, or an element is NaN or
/// infinite data. Missing elements take the source's raw `_FillValue`
/// (else its first `missing_value`). On a coarser lattice than the
/// source's, `scale_factor` changes and a valid range is converted to the
/// new units (narrowed to whole values, so it never admits more).
pub(crate) fn repack(
    field: &Field,
    meta: &DatasetMeta,
    p: Packing,
) -> std::result::Result<(VarValues, Vec<Attr>, u32), String> {
    let src_attrs = &meta.var.attrs;
    let dtype = meta.var.dtype;
    let Some(multiple) = cf::packing(src_attrs).and_then(|d| lattice_multiple(d, p)) else {
        return Err(
            "the lattice the encoder verified is not one the variable's attributes declare".into(),
        );
    };
    let unsigned = cf::is_unsigned(src_attrs, dtype);
    let Some((lo, hi)) = index_range(dtype, unsigned) else {
        return Err(format!(
            "its source type {} is not re-packed into",
            dtype_name(dtype)
        ));
    };
    let fix = |x: f64| {
        if unsigned {
            cf::as_unsigned(x, dtype)
        } else {
            x
        }
    };
    let wrap = |k: f64| -> i64 {
        // Checked to lie in [lo, hi] (at most 2^32 in magnitude): exact.
        let k = k as i64;
        let signed_max = (hi as i64 - lo as i64) / 2;
        if unsigned && k > signed_max {
            k - (hi as i64 + 1)
        } else {
            k
        }
    };
    // The attributes as written: on a coarser lattice, the scale and any
    // valid range (in packed units) change.
    let m = f64::from(multiple);
    let mut attrs = src_attrs.clone();
    if multiple > 1 {
        for a in &mut attrs {
            match a.name.as_str() {
                "scale_factor" => a.value = packing_attr(&a.value, p.scale),
                "valid_min" | "valid_max" | "valid_range" => {
                    let vals = cf::attr_f64s(&a.value);
                    let last = vals.len().saturating_sub(1);
                    let mut raw = Vec::with_capacity(vals.len());
                    for (i, v) in vals.into_iter().enumerate() {
                        let is_min = a.name == "valid_min" || (a.name == "valid_range" && i == 0);
                        let is_max =
                            a.name == "valid_max" || (a.name == "valid_range" && i == last);
                        let k = fix(v) / m;
                        let k = match (is_min, is_max) {
                            (true, _) => k.ceil(),
                            (_, true) => k.floor(),
                            _ => k.round(),
                        };
                        if !(k >= lo && k <= hi) {
                            return Err("its valid range cannot be converted".into());
                        }
                        raw.push(wrap(k));
                    }
                    a.value = int_attr(dtype, raw)
                        .ok_or_else(|| "its valid range cannot be converted".to_string())?;
                }
                _ => {}
            }
        }
    }
    let attrs_fixed = attrs;
    let markers: Vec<f64> = cf::missing_markers(&attrs_fixed)
        .into_iter()
        .map(fix)
        .collect();
    let (vmin, vmax) = cf::valid_bounds(&attrs_fixed);
    let (vmin, vmax) = (vmin.map(fix), vmax.map(fix));
    // The raw fill, as the attribute holds it (signed for _Unsigned types).
    let fill_raw = ["_FillValue", "missing_value"]
        .iter()
        .find_map(|n| cf::attr(&attrs_fixed, n).and_then(|v| cf::attr_f64s(v).first().copied()));
    let mut raw = Vec::new();
    raw.try_reserve_exact(field.values.len())
        .map_err(|_| "not enough memory to re-pack".to_string())?;
    let mut any_missing = false;
    for (i, &v) in field.values.iter().enumerate() {
        if field.is_missing(i) {
            if !is_missing_marker(v) {
                return Err("it holds NaN or infinite values, which an integer cannot".into());
            }
            any_missing = true;
            raw.push(0);
            continue;
        }
        let Some(k) = p.index(v) else {
            return Err(format!("value {v} has no lattice point"));
        };
        let inside = k >= lo
            && k <= hi
            && vmin.is_none_or(|m| k >= m)
            && vmax.is_none_or(|m| k <= m)
            && !markers.contains(&k);
        if !inside {
            return Err(format!(
                "value {v} would be packed as {k}, outside the type or valid range or on a fill \
                 value"
            ));
        }
        raw.push(wrap(k));
    }
    if any_missing {
        let f = fill_raw
            .filter(|f| f.is_finite() && f.fract() == 0.0)
            .and_then(|f| {
                let f = f as i64;
                raw_data(dtype, vec![f]).map(|_| f)
            })
            .ok_or_else(|| {
                "it has missing values but no _FillValue or missing_value of its type".to_string()
            })?;
        for (i, r) in raw.iter_mut().enumerate() {
            if field.is_missing(i) {
                *r = f;
            }
        }
    }
    let data = raw_data(dtype, raw)
        .ok_or_else(|| format!("a value does not fit {}", dtype_name(dtype)))?;
    Ok((VarValues::Packed { dtype, data }, attrs_fixed, multiple))
}
