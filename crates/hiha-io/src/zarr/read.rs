//! Reading a Zarr store (v2 or v3, on the local file system) into the same
//! model a NetCDF file gives: every array of the root group becomes a
//! variable with its dimension names and attributes; the CF logic (grid,
//! packing, fill values) is then that of the NetCDF reader.

use std::path::{Path, PathBuf};

use hiha_core::meta::{Attr, AttrValue, CoordData, DType, Dim};
use serde_json::Value;

use super::codec;
use super::meta::{self, ArrayMeta, ZType};
use crate::error::{IoError, Result};
use crate::netcdf::{Backend, Source, SrcVar};

/// The largest array read, in bytes once decoded: a store can announce any
/// shape (absent chunks are fill), so the size is checked before anything
/// is allocated.
pub(crate) const MAX_ARRAY_BYTES: usize = 1 << 35;

fn open_err(path: &Path, reason: impl Into<String>) -> IoError {
    IoError::Open {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> IoError {
    IoError::Corrupt {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| IoError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
        kind: e.kind(),
    })
}

/// A JSON document of the store, or `None` when the file does not exist.
fn json(path: &Path) -> Result<Option<Value>> {
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = read_file(path)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| corrupt(path, format!("not valid JSON: {e}")))
}

/// The format of a store: 3 when it has a `zarr.json`, 2 when it has a
/// `.zgroup`, `.zarray` or `.zattrs`, else `None`.
pub(crate) fn store_version(path: &Path) -> Option<u8> {
    if !path.is_dir() {
        return None;
    }
    if path.join("zarr.json").is_file() {
        Some(3)
    } else if [".zgroup", ".zarray", ".zattrs"]
        .iter()
        .any(|f| path.join(f).is_file())
    {
        Some(2)
    } else {
        None
    }
}

/// A JSON attribute as hiha's attribute, or `None` for what NetCDF cannot
/// hold (objects, nulls, lists of strings or of mixed kinds).
fn attr_value(v: &Value) -> Option<AttrValue> {
    let ints = |a: &[Value]| a.iter().map(Value::as_i64).collect::<Option<Vec<i64>>>();
    let floats = |a: &[Value]| a.iter().map(json_f64).collect::<Option<Vec<f64>>>();
    match v {
        Value::String(s) => Some(AttrValue::Text(s.clone())),
        Value::Bool(b) => Some(AttrValue::I8(vec![i8::from(*b)])),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Some(AttrValue::I64(vec![i])),
            None => n.as_f64().map(|f| AttrValue::F64(vec![f])),
        },
        Value::Array(a) if !a.is_empty() => match ints(a) {
            Some(v) => Some(AttrValue::I64(v)),
            None => floats(a).map(AttrValue::F64),
        },
        _ => None,
    }
}

/// A JSON number or one of the strings Zarr uses for special floats.
fn json_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// An attribute in the type of `dtype` when it holds a value of that type
/// exactly (a CF `_FillValue`, `missing_value` or valid range must have the
/// variable's type in NetCDF), else as it is.
fn typed(a: AttrValue, dtype: DType) -> AttrValue {
    let vals = crate::cf::attr_f64s(&a);
    if vals.is_empty() {
        return a;
    }
    macro_rules! cast {
        ($t:ty, $variant:ident) => {{
            let out: Option<Vec<$t>> = vals
                .iter()
                .map(|&x| {
                    let y = x as $t;
                    ((y as f64) == x || (x.is_nan() && (y as f64).is_nan())).then_some(y)
                })
                .collect();
            out.map(AttrValue::$variant).unwrap_or(a)
        }};
    }
    match dtype {
        DType::I8 => cast!(i8, I8),
        DType::U8 => cast!(u8, U8),
        DType::I16 => cast!(i16, I16),
        DType::U16 => cast!(u16, U16),
        DType::I32 => cast!(i32, I32),
        DType::U32 => cast!(u32, U32),
        DType::I64 => cast!(i64, I64),
        DType::U64 => cast!(u64, U64),
        DType::F32 => cast!(f32, F32),
        DType::F64 => cast!(f64, F64),
        DType::Char => a,
    }
}

/// The type hiha keeps an array's values in.
fn dtype_of(t: ZType) -> DType {
    match t {
        ZType::Bool | ZType::I8 => DType::I8,
        ZType::I16 => DType::I16,
        ZType::I32 => DType::I32,
        ZType::I64 => DType::I64,
        ZType::U8 => DType::U8,
        ZType::U16 => DType::U16,
        ZType::U32 => DType::U32,
        ZType::U64 => DType::U64,
        ZType::F32 => DType::F32,
        ZType::F64 => DType::F64,
        ZType::Str | ZType::Utf32(_) | ZType::Bytes(_) => DType::Char,
    }
}

/// The little-endian bytes of one element holding the fill value (zeros
/// when there is none, as zarr-python reads a v2 array without one).
fn fill_bytes(m: &ArrayMeta) -> std::result::Result<Vec<u8>, String> {
    let size = m.dtype.size().unwrap_or(0);
    let f = &m.fill;
    if f.is_null() || matches!(m.dtype, ZType::Str | ZType::Utf32(_) | ZType::Bytes(_)) {
        return Ok(vec![0; size]);
    }
    if let Some(s) = f.as_str().and_then(|s| s.strip_prefix("0x")) {
        let bits = u64::from_str_radix(s, 16).map_err(|_| format!("fill value {f} is not hex"))?;
        let mut b = bits.to_le_bytes().to_vec();
        b.resize(size, 0);
        return Ok(b);
    }
    let bad = || format!("fill value {f} does not fit the data type");
    let int = || {
        f.as_i64()
            .or_else(|| f.as_bool().map(i64::from))
            .ok_or_else(bad)
    };
    Ok(match m.dtype {
        ZType::Bool | ZType::I8 => (i8::try_from(int()?).map_err(|_| bad())?)
            .to_le_bytes()
            .to_vec(),
        ZType::U8 => (u8::try_from(int()?).map_err(|_| bad())?)
            .to_le_bytes()
            .to_vec(),
        ZType::I16 => (i16::try_from(int()?).map_err(|_| bad())?)
            .to_le_bytes()
            .to_vec(),
        ZType::U16 => (u16::try_from(int()?).map_err(|_| bad())?)
            .to_le_bytes()
            .to_vec(),
        ZType::I32 => (i32::try_from(int()?).map_err(|_| bad())?)
            .to_le_bytes()
            .to_vec(),
        ZType::U32 => (u32::try_from(int()?).map_err(|_| bad())?)
            .to_le_bytes()
            .to_vec(),
        ZType::I64 => int()?.to_le_bytes().to_vec(),
        ZType::U64 => f.as_u64().ok_or_else(bad)?.to_le_bytes().to_vec(),
        ZType::F32 => (json_f64(f).ok_or_else(bad)? as f32).to_le_bytes().to_vec(),
        ZType::F64 => json_f64(f).ok_or_else(bad)?.to_le_bytes().to_vec(),
        ZType::Str | ZType::Utf32(_) | ZType::Bytes(_) => vec![0; size],
    })
}

/// The product of `dims`, checked.
fn product(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |a, &b| a.checked_mul(b))
}

/// The most chunks one array may have (a file-system store of more would
/// be unusable anyway); checked before any is read.
pub(crate) const MAX_CHUNKS: usize = 1 << 24;

/// The most elements of a string array (coordinates such as `expver`).
pub(crate) const MAX_STRINGS: usize = 1 << 24;

/// The most bytes a chunk of a string array may decode to.
const MAX_STRING_CHUNK: usize = 1 << 26;

/// Every chunk index of a grid of `counts` chunks per dim, in C order
/// (one at a time: a grid can be large).
fn chunk_indices(counts: &[usize]) -> impl Iterator<Item = Vec<usize>> + '_ {
    let total = product(counts).unwrap_or(0);
    let mut idx = vec![0usize; counts.len()];
    (0..total).map(move |_| {
        let here = idx.clone();
        for d in (0..counts.len()).rev() {
            idx[d] += 1;
            if idx[d] < counts[d] {
                break;
            }
            idx[d] = 0;
        }
        here
    })
}

/// Copies the part of a decoded chunk (`chunk` elements of `size` bytes,
/// chunk shape `cshape`, at grid position `idx`) that lies inside the array
/// (shape `shape`) into `out` (the whole array, C order).
fn place(
    out: &mut [u8],
    chunk: &[u8],
    shape: &[usize],
    cshape: &[usize],
    idx: &[usize],
    size: usize,
) {
    let nd = shape.len();
    if nd == 0 {
        out[..size].copy_from_slice(&chunk[..size]);
        return;
    }
    let origin: Vec<usize> = (0..nd).map(|d| idx[d] * cshape[d]).collect();
    let extent: Vec<usize> = (0..nd)
        .map(|d| cshape[d].min(shape[d] - origin[d]))
        .collect();
    // Strides, in elements.
    let mut astride = vec![1usize; nd];
    let mut cstride = vec![1usize; nd];
    for d in (0..nd - 1).rev() {
        astride[d] = astride[d + 1] * shape[d + 1];
        cstride[d] = cstride[d + 1] * cshape[d + 1];
    }
    let rows = product(&extent[..nd - 1]).unwrap_or(0);
    let row = extent[nd - 1] * size;
    let mut r = vec![0usize; nd - 1];
    for _ in 0..rows {
        let (mut a, mut c) = (origin[nd - 1], 0usize);
        for d in 0..nd - 1 {
            a += (origin[d] + r[d]) * astride[d];
            c += r[d] * cstride[d];
        }
        out[a * size..a * size + row].copy_from_slice(&chunk[c * size..c * size + row]);
        for d in (0..nd - 1).rev() {
            r[d] += 1;
            if r[d] < extent[d] {
                break;
            }
            r[d] = 0;
        }
    }
}

/// Little-endian bytes of an array's values, or its strings.
enum Values {
    Fixed(Vec<u8>),
    Strings(Vec<String>),
}

fn read_array(dir: &Path, m: &ArrayMeta) -> Result<Values> {
    let nd = m.shape.len();
    if m.chunks.len() != nd || m.chunks.contains(&0) {
        return Err(corrupt(dir, "the chunk shape does not match the array's"));
    }
    if m.v2 && m.codecs.contains(&super::meta::Codec::VlenUtf8) != (m.dtype == ZType::Str) {
        return Err(open_err(dir, "object arrays need the vlen-utf8 filter"));
    }
    let n = product(&m.shape).ok_or_else(|| corrupt(dir, "the array is too large"))?;
    let cn = product(&m.chunks).ok_or_else(|| corrupt(dir, "the chunks are too large"))?;
    let counts: Vec<usize> = (0..nd).map(|d| m.shape[d].div_ceil(m.chunks[d])).collect();
    if product(&counts).is_none_or(|c| c > MAX_CHUNKS) {
        return Err(open_err(
            dir,
            format!("the array has more than {MAX_CHUNKS} chunks: too large to read"),
        ));
    }
    let key_path = |idx: &[usize]| -> PathBuf {
        // A '/' separator nests directories; '.' makes one file name.
        let mut p = dir.to_path_buf();
        for part in m.key.key(idx).split('/') {
            p.push(part);
        }
        p
    };
    let codecs: Vec<_> = m
        .codecs
        .iter()
        .filter(|c| **c != super::meta::Codec::VlenUtf8)
        .cloned()
        .collect();
    if m.dtype == ZType::Str {
        let limit = MAX_STRING_CHUNK;
        if n > MAX_STRINGS {
            return Err(open_err(dir, "the string array is too large"));
        }
        let mut out = vec![String::new(); n];
        for idx in chunk_indices(&counts) {
            let p = key_path(&idx);
            if !p.is_file() {
                continue;
            }
            let raw = codec::decode(&codecs, read_file(&p)?, limit).map_err(|e| corrupt(&p, e))?;
            let items = codec::vlen_utf8(&raw, cn).map_err(|e| corrupt(&p, e))?;
            // Place element by element (strings are few).
            for (k, s) in items.into_iter().enumerate() {
                let mut rem = k;
                let mut at = 0usize;
                let mut inside = true;
                let mut stride = 1usize;
                for d in (0..nd).rev() {
                    let i = idx[d] * m.chunks[d] + rem % m.chunks[d];
                    rem /= m.chunks[d];
                    inside &= i < m.shape[d];
                    at += i * stride;
                    stride *= m.shape[d];
                }
                if inside {
                    out[at] = s;
                }
            }
        }
        return Ok(Values::Strings(out));
    }
    let size = m
        .dtype
        .size()
        .ok_or_else(|| open_err(dir, "unsupported type"))?;
    let bytes = n
        .checked_mul(size)
        .filter(|&b| b <= MAX_ARRAY_BYTES)
        .ok_or_else(|| {
            open_err(
                dir,
                format!(
                    "the array needs more than {} GiB: too large to read at once",
                    MAX_ARRAY_BYTES >> 30
                ),
            )
        })?;
    // A chunk may be larger than the array (its edge is padding), but not
    // by much: a hostile chunk shape must not decode gigabytes.
    let cbytes = cn
        .checked_mul(size)
        .filter(|&b| b <= bytes.max(1 << 26))
        .ok_or_else(|| open_err(dir, "a chunk is too large for its array"))?;
    let fill = fill_bytes(m).map_err(|e| corrupt(dir, e))?;
    let mut out = Vec::new();
    out.try_reserve_exact(bytes)
        .map_err(|_| open_err(dir, format!("not enough memory for {bytes} bytes")))?;
    for _ in 0..n {
        out.extend_from_slice(&fill);
    }
    let swap = m.big_endian && m.dtype.scalar_size() > 1;
    for idx in chunk_indices(&counts) {
        let p = key_path(&idx);
        if !p.is_file() {
            continue; // an absent chunk holds the fill value
        }
        let mut raw = codec::decode(&codecs, read_file(&p)?, cbytes).map_err(|e| corrupt(&p, e))?;
        if raw.len() != cbytes {
            return Err(corrupt(
                &p,
                format!(
                    "the chunk decodes to {} bytes, {cbytes} expected",
                    raw.len()
                ),
            ));
        }
        if swap {
            for s in raw.chunks_exact_mut(m.dtype.scalar_size()) {
                s.reverse();
            }
        }
        place(&mut out, &raw, &m.shape, &m.chunks, &idx, size);
    }
    Ok(Values::Fixed(out))
}

/// Converts little-endian bytes into hiha's [`CoordData`] convention for
/// the type (u16 in `I32`, u32 and u64 in `I64`, bool as i8).
fn coord_data(t: ZType, b: &[u8]) -> CoordData {
    macro_rules! le {
        ($t:ty, $n:expr) => {
            b.chunks_exact($n)
                .map(|c| <$t>::from_le_bytes(c.try_into().unwrap_or([0; $n])))
                .collect::<Vec<$t>>()
        };
    }
    match t {
        ZType::Bool | ZType::I8 => CoordData::I8(b.iter().map(|&x| x as i8).collect()),
        ZType::U8 => CoordData::U8(b.to_vec()),
        ZType::I16 => CoordData::I16(le!(i16, 2)),
        ZType::U16 => CoordData::I32(le!(u16, 2).into_iter().map(i32::from).collect()),
        ZType::I32 => CoordData::I32(le!(i32, 4)),
        ZType::U32 => CoordData::I64(le!(u32, 4).into_iter().map(i64::from).collect()),
        ZType::I64 | ZType::U64 => CoordData::I64(le!(i64, 8)),
        ZType::F32 => CoordData::F32(le!(f32, 4)),
        ZType::F64 => CoordData::F64(le!(f64, 8)),
        ZType::Str | ZType::Utf32(_) | ZType::Bytes(_) => CoordData::Text(b.to_vec()),
    }
}

/// Strings of a fixed-width or variable-length array.
fn strings(t: ZType, v: Values) -> Vec<String> {
    match (t, v) {
        (_, Values::Strings(s)) => s,
        (ZType::Utf32(n), Values::Fixed(b)) if n > 0 => b
            .chunks_exact(4 * n)
            .map(|c| {
                c.chunks_exact(4)
                    .map(|x| u32::from_le_bytes(x.try_into().unwrap_or([0; 4])))
                    .take_while(|&u| u != 0)
                    .filter_map(char::from_u32)
                    .collect()
            })
            .collect(),
        (ZType::Bytes(n), Values::Fixed(b)) if n > 0 => b
            .chunks_exact(n)
            .map(|c| {
                let end = c.iter().position(|&x| x == 0).unwrap_or(c.len());
                String::from_utf8_lossy(&c[..end]).into_owned()
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Opens a store as a [`Source`]: the root group's arrays as variables.
pub(crate) fn open(path: &Path) -> Result<Source> {
    let p = path.display().to_string();
    let version = store_version(path).ok_or_else(|| {
        open_err(
            path,
            "not a Zarr store (no zarr.json, .zgroup, .zarray or .zattrs)",
        )
    })?;
    let mut notes = Vec::new();
    // The root: global attributes.
    let root_attrs = if version == 3 {
        let doc = json(&path.join("zarr.json"))?.unwrap_or(Value::Null);
        if doc.get("node_type").and_then(Value::as_str) == Some("array") {
            return Err(open_err(
                path,
                "a single Zarr array, not a group of arrays with dimension names (as xarray \
                 writes)",
            ));
        }
        doc.get("attributes").cloned().unwrap_or(Value::Null)
    } else {
        if path.join(".zarray").is_file() {
            return Err(open_err(
                path,
                "a single Zarr array, not a group of arrays with dimension names (as xarray \
                 writes)",
            ));
        }
        json(&path.join(".zattrs"))?.unwrap_or(Value::Null)
    };
    let mut global_attrs = Vec::new();
    if let Some(obj) = root_attrs.as_object() {
        for (k, v) in obj {
            match attr_value(v) {
                Some(a) => global_attrs.push(Attr::new(k.clone(), a)),
                None => notes.push(format!("global attribute '{k}' ({v}) cannot be kept")),
            }
        }
    }
    // The arrays, by name.
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| IoError::Read {
            path: p.clone(),
            reason: e.to_string(),
            kind: e.kind(),
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|e| e.is_dir())
        .collect();
    entries.sort();
    let mut dims: Vec<Dim> = Vec::new();
    let mut vars = Vec::new();
    let mut data = Vec::new();
    for dir in entries {
        let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        let parsed = if version == 3 {
            match json(&dir.join("zarr.json"))? {
                None => continue,
                Some(doc) if doc.get("node_type").and_then(Value::as_str) == Some("group") => {
                    notes.push(format!(
                        "group '{name}' left out (only the root group is read)"
                    ));
                    continue;
                }
                Some(doc) => meta::parse_v3(&doc),
            }
        } else {
            if dir.join(".zgroup").is_file() {
                notes.push(format!(
                    "group '{name}' left out (only the root group is read)"
                ));
                continue;
            }
            match json(&dir.join(".zarray"))? {
                None => continue,
                Some(doc) => meta::parse_v2(&doc, json(&dir.join(".zattrs"))?.as_ref()),
            }
        };
        let m = parsed.map_err(|e| {
            IoError::UnsupportedFormat(format!("Zarr array '{name}' in '{p}': {e}"))
        })?;
        // A 0-d array needs no names (xarray writes none for a scalar).
        let names = m.dims.clone().or_else(|| m.shape.is_empty().then(Vec::new));
        let Some(names) = names.filter(|d| d.len() == m.shape.len()) else {
            notes.push(format!(
                "array '{name}' left out: it has no dimension names (dimension_names, \
                 _ARRAY_DIMENSIONS)"
            ));
            continue;
        };
        for (d, &len) in names.iter().zip(&m.shape) {
            match dims.iter().find(|x| x.name == *d) {
                Some(x) if x.len != len => {
                    return Err(corrupt(
                        path,
                        format!(
                            "dim '{d}' has length {} and {len} in different arrays",
                            x.len
                        ),
                    ))
                }
                Some(_) => {}
                None => dims.push(Dim {
                    name: d.clone(),
                    len,
                    unlimited: false,
                }),
            }
        }
        let values = read_array(&dir, &m)?;
        let dtype = dtype_of(m.dtype);
        let mut attrs = Vec::new();
        for (k, v) in &m.attrs {
            if k == "_ARRAY_DIMENSIONS" {
                continue;
            }
            match attr_value(v) {
                Some(a)
                    if matches!(
                        k.as_str(),
                        "_FillValue" | "missing_value" | "valid_min" | "valid_max" | "valid_range"
                    ) =>
                {
                    attrs.push(Attr::new(k.clone(), typed(a, dtype)))
                }
                Some(a) => attrs.push(Attr::new(k.clone(), a)),
                None => notes.push(format!("attribute '{k}' of '{name}' ({v}) cannot be kept")),
            }
        }
        // xarray reads a v2 array's fill value as its _FillValue (a NaN
        // one changes nothing: NaN elements of a float array are missing
        // either way, so it is not added).
        if m.v2 && dtype != DType::Char && !attrs.iter().any(|a| a.name == "_FillValue") {
            if let Some(f) = json_f64(&m.fill).filter(|f| !f.is_nan()) {
                attrs.push(Attr::new(
                    "_FillValue",
                    typed(AttrValue::F64(vec![f]), dtype),
                ));
            }
        }
        let mut vdims = names.clone();
        let mut shape = m.shape.clone();
        let cdata = if dtype == DType::Char {
            // Strings: a char array padded to the longest, on a new dim
            // `<name>_strlen`, as for NetCDF-4 strings.
            let s = strings(m.dtype, values);
            let width = s.iter().map(String::len).max().unwrap_or(0).max(1);
            let mut bytes = Vec::with_capacity(s.len().saturating_mul(width));
            for x in &s {
                bytes.extend_from_slice(x.as_bytes());
                bytes.resize(bytes.len() + width - x.len(), 0);
            }
            let mut dim = format!("{name}_strlen");
            while dims.iter().any(|d| d.name == dim) {
                dim.push('_');
            }
            dims.push(Dim {
                name: dim.clone(),
                len: width,
                unlimited: false,
            });
            vdims.push(dim);
            shape.push(width);
            if !attrs.iter().any(|a| a.name == "_Encoding") {
                attrs.push(Attr::new("_Encoding", AttrValue::Text("utf-8".into())));
            }
            CoordData::Text(bytes)
        } else {
            match values {
                Values::Fixed(b) => coord_data(m.dtype, &b),
                Values::Strings(_) => CoordData::Text(Vec::new()),
            }
        };
        vars.push(SrcVar {
            name,
            dims: vdims,
            shape,
            dtype: Some(dtype),
            is_string: false,
            attrs,
        });
        data.push(cdata);
    }
    if vars.is_empty() {
        return Err(open_err(
            path,
            "the store holds no array with dimension names",
        ));
    }
    let file_len = super::store_bytes(path) as usize;
    Ok(Source {
        path: p,
        backend: Backend::Mem(data),
        file_len,
        dims,
        global_attrs,
        vars,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_land_in_place() {
        // A 3 × 5 array of u8 in 2 × 2 chunks.
        let shape = [3usize, 5];
        let cs = [2usize, 2];
        let mut out = vec![0u8; 15];
        for idx in chunk_indices(&[2, 3]) {
            let chunk: Vec<u8> = (0..4)
                .map(|k| {
                    let (i, j) = (idx[0] * 2 + k / 2, idx[1] * 2 + k % 2);
                    (i * 5 + j) as u8
                })
                .collect();
            place(&mut out, &chunk, &shape, &cs, &idx, 1);
        }
        assert_eq!(out, (0..15).collect::<Vec<u8>>());
    }

    #[test]
    fn attributes_and_fills() {
        assert_eq!(
            attr_value(&serde_json::json!(1.5)),
            Some(AttrValue::F64(vec![1.5]))
        );
        assert_eq!(
            attr_value(&serde_json::json!([1, 2])),
            Some(AttrValue::I64(vec![1, 2]))
        );
        assert_eq!(attr_value(&serde_json::json!({"a": 1})), None);
        assert_eq!(
            typed(AttrValue::I64(vec![-32767]), DType::I16),
            AttrValue::I16(vec![-32767])
        );
        assert_eq!(
            typed(AttrValue::I64(vec![70000]), DType::I16),
            AttrValue::I64(vec![70000])
        );
        let m = meta::parse_v3(&serde_json::json!({
            "shape": [2], "data_type": "float32", "fill_value": "NaN",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
            "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]
        }))
        .expect("parses");
        assert!(f32::from_le_bytes(fill_bytes(&m).expect("fill").try_into().expect("4")).is_nan());
    }
}
