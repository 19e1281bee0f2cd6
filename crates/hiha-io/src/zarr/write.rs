//! Writing a dataset as a Zarr v3 store that xarray opens: one array per
//! variable with `dimension_names` and the CF attributes, chunks
//! byte-shuffled and compressed with zstd in Blosc frames (plain zstd for
//! chunks too large for Blosc); data variables chunked like the NetCDF-4
//! output and packed where the encoder verified it.

use std::path::{Path, PathBuf};

use hiha_core::meta::{AttrValue, CoordData, DType};
use serde_json::{json, Map, Value};

use super::codec;
use crate::atomic::{output_dir, Existing};
use crate::error::{IoError, Result};
use crate::prepared::{field_chunks, PreparedDataset, VarValues};

type Res<T> = std::result::Result<T, String>;

/// A float as JSON, with Zarr's spellings of NaN and the infinities.
fn json_float(x: f64) -> Value {
    if x.is_nan() {
        json!("NaN")
    } else if x == f64::INFINITY {
        json!("Infinity")
    } else if x == f64::NEG_INFINITY {
        json!("-Infinity")
    } else {
        json!(x)
    }
}

fn attr_json(v: &AttrValue) -> Value {
    fn list<T: Copy>(v: &[T], f: impl Fn(T) -> Value) -> Value {
        match v {
            [one] => f(*one),
            _ => Value::Array(v.iter().map(|&x| f(x)).collect()),
        }
    }
    match v {
        AttrValue::Text(s) => json!(s),
        AttrValue::I8(v) => list(v, |x| json!(x)),
        AttrValue::U8(v) => list(v, |x| json!(x)),
        AttrValue::I16(v) => list(v, |x| json!(x)),
        AttrValue::U16(v) => list(v, |x| json!(x)),
        AttrValue::I32(v) => list(v, |x| json!(x)),
        AttrValue::U32(v) => list(v, |x| json!(x)),
        AttrValue::I64(v) => list(v, |x| json!(x)),
        AttrValue::U64(v) => list(v, |x| json!(x)),
        AttrValue::F32(v) => list(v, |x| json_float(f64::from(x))),
        AttrValue::F64(v) => list(v, json_float),
    }
}

fn data_type(t: DType) -> &'static str {
    match t {
        DType::I8 => "int8",
        DType::U8 => "uint8",
        DType::I16 => "int16",
        DType::U16 => "uint16",
        DType::I32 => "int32",
        DType::U32 => "uint32",
        DType::I64 => "int64",
        DType::U64 => "uint64",
        DType::F32 => "float32",
        DType::F64 => "float64",
        DType::Char => "uint8",
    }
}

/// Little-endian bytes of values in [`CoordData`]'s convention for `t`.
fn le_bytes(t: DType, d: &CoordData) -> Res<Vec<u8>> {
    let bad = || format!("data does not match its type {t:?}");
    let mut out = Vec::new();
    macro_rules! put {
        ($v:expr, $conv:expr) => {{
            for &x in $v {
                out.extend_from_slice(&($conv)(x).to_le_bytes());
            }
        }};
    }
    match (t, d) {
        (DType::F32, CoordData::F32(v)) => put!(v, |x: f32| x),
        (DType::F64, CoordData::F64(v)) => put!(v, |x: f64| x),
        (DType::I64 | DType::U64, CoordData::I64(v)) => put!(v, |x: i64| x),
        (DType::U32, CoordData::I64(v)) => {
            for &x in v {
                out.extend_from_slice(&u32::try_from(x).map_err(|_| bad())?.to_le_bytes());
            }
        }
        (DType::I32, CoordData::I32(v)) => put!(v, |x: i32| x),
        (DType::U16, CoordData::I32(v)) => {
            for &x in v {
                out.extend_from_slice(&u16::try_from(x).map_err(|_| bad())?.to_le_bytes());
            }
        }
        (DType::I16, CoordData::I16(v)) => put!(v, |x: i16| x),
        (DType::I8, CoordData::I8(v)) => put!(v, |x: i8| x),
        (DType::U8, CoordData::U8(v)) => out.extend_from_slice(v),
        (DType::Char, CoordData::Text(v)) => out.extend_from_slice(v),
        _ => return Err(bad()),
    }
    Ok(out)
}

/// Copies the chunk at grid position `idx` out of `all` (C order, shape
/// `shape`, elements of `size` bytes), padded with `fill` to the full
/// chunk shape.
fn take_chunk(
    all: &[u8],
    shape: &[usize],
    cs: &[usize],
    idx: &[usize],
    size: usize,
    fill: &[u8],
) -> Vec<u8> {
    let nd = shape.len();
    let cn: usize = cs.iter().product();
    let mut out = Vec::with_capacity(cn * size);
    for _ in 0..cn {
        out.extend_from_slice(fill);
    }
    if nd == 0 {
        out[..size].copy_from_slice(&all[..size]);
        return out;
    }
    let origin: Vec<usize> = (0..nd).map(|d| idx[d] * cs[d]).collect();
    let extent: Vec<usize> = (0..nd).map(|d| cs[d].min(shape[d] - origin[d])).collect();
    let mut astride = vec![1usize; nd];
    let mut cstride = vec![1usize; nd];
    for d in (0..nd - 1).rev() {
        astride[d] = astride[d + 1] * shape[d + 1];
        cstride[d] = cstride[d + 1] * cs[d + 1];
    }
    let rows: usize = extent[..nd - 1].iter().product();
    let row = extent[nd - 1] * size;
    let mut r = vec![0usize; nd - 1];
    for _ in 0..rows {
        let (mut a, mut c) = (origin[nd - 1], 0usize);
        for d in 0..nd - 1 {
            a += (origin[d] + r[d]) * astride[d];
            c += r[d] * cstride[d];
        }
        out[c * size..c * size + row].copy_from_slice(&all[a * size..a * size + row]);
        for d in (0..nd - 1).rev() {
            r[d] += 1;
            if r[d] < extent[d] {
                break;
            }
            r[d] = 0;
        }
    }
    out
}

/// One array to write.
struct Array<'a> {
    name: &'a str,
    dims: Vec<String>,
    shape: Vec<usize>,
    chunks: Vec<usize>,
    /// `data_type` of the metadata.
    data_type: Value,
    fill: Value,
    /// Little-endian element bytes, C order.
    bytes: Vec<u8>,
    size: usize,
    fill_bytes: Vec<u8>,
    attrs: Map<String, Value>,
}

fn write_file(path: &Path, bytes: &[u8]) -> Res<()> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_array(root: &Path, a: &Array) -> Res<()> {
    let dir = root.join(a.name);
    // Blosc (byte shuffle + zstd) unless a chunk is too large for it.
    let chunk_bytes = a.chunks.iter().product::<usize>().saturating_mul(a.size);
    let blosc = chunk_bytes <= codec::BLOSC_MAX && a.size <= 255;
    std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let meta = json!({
        "zarr_format": 3,
        "node_type": "array",
        "shape": a.shape,
        "data_type": a.data_type,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": a.chunks}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": a.fill,
        "codecs": [
            {"name": "bytes", "configuration": {"endian": "little"}},
            if blosc {
                json!({"name": "blosc", "configuration": {
                    "cname": "zstd", "clevel": 1, "shuffle": if a.size > 1 { "shuffle" } else { "noshuffle" },
                    "typesize": a.size.clamp(1, 255), "blocksize": 0}})
            } else {
                json!({"name": "zstd", "configuration": {"level": 1, "checksum": false}})
            }
        ],
        "attributes": a.attrs,
        "dimension_names": a.dims,
        "storage_transformers": [],
    });
    let text = serde_json::to_vec_pretty(&meta).map_err(|e| e.to_string())?;
    write_file(&dir.join("zarr.json"), &text)?;
    let nd = a.shape.len();
    let counts: Vec<usize> = (0..nd)
        .map(|d| a.shape[d].div_ceil(a.chunks[d].max(1)))
        .collect();
    let total: usize = counts.iter().product();
    let mut idx = vec![0usize; nd];
    for _ in 0..total {
        let chunk = take_chunk(&a.bytes, &a.shape, &a.chunks, &idx, a.size, &a.fill_bytes);
        // `c/i0/i1/…/in`: the directories, then the file.
        let mut p = dir.join("c");
        if let Some((last, outer)) = idx.split_last() {
            for i in outer {
                p.push(i.to_string());
            }
            std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            p.push(last.to_string());
        }
        let coded = if blosc {
            codec::blosc_encode(&chunk, a.size)
        } else {
            codec::zstd_encode(&chunk)
        };
        write_file(&p, &coded)?;
        for d in (0..nd).rev() {
            idx[d] += 1;
            if idx[d] < counts[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(())
}

/// A char array (strings along its last dim) as fixed-length UTF-32
/// strings, which xarray reads as strings; `None` when it is not UTF-8.
fn strings_array<'a>(
    name: &'a str,
    dims: &[String],
    shape: &[usize],
    data: &CoordData,
    attrs: Map<String, Value>,
) -> Option<Array<'a>> {
    let CoordData::Text(b) = data else {
        return None;
    };
    let (&width, outer) = shape.split_last()?;
    let strings: Vec<String> = if width == 0 {
        vec![String::new(); outer.iter().product()]
    } else {
        b.chunks(width)
            .map(|c| {
                let end = c.iter().position(|&x| x == 0).unwrap_or(c.len());
                std::str::from_utf8(&c[..end]).map(str::to_string)
            })
            .collect::<std::result::Result<_, _>>()
            .ok()?
    };
    let chars = strings
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut bytes = Vec::with_capacity(strings.len() * chars * 4);
    for s in &strings {
        let mut n = 0;
        for c in s.chars() {
            bytes.extend_from_slice(&u32::from(c).to_le_bytes());
            n += 1;
        }
        bytes.resize(bytes.len() + (chars - n) * 4, 0);
    }
    let mut attrs = attrs;
    attrs.remove("_Encoding");
    Some(Array {
        name,
        dims: dims[..dims.len() - 1].to_vec(),
        shape: outer.to_vec(),
        chunks: outer.iter().map(|&l| l.max(1)).collect(),
        data_type: json!({"name": "fixed_length_utf32", "configuration": {"length_bytes": chars * 4}}),
        fill: json!(""),
        bytes,
        size: chars * 4,
        fill_bytes: vec![0; chars * 4],
        attrs,
    })
}

/// The metadata fill value of an array, and its element bytes: the
/// `_FillValue` attribute when there is one (xarray keeps it there for v3
/// and masks with it), else 0 or NaN.
fn fill_of(t: DType, attrs: &Map<String, Value>) -> (Value, Vec<u8>) {
    let f = attrs.get("_FillValue");
    let num = f.and_then(|v| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s == "NaN" => Some(f64::NAN),
        _ => None,
    });
    match t {
        DType::F32 => {
            let x = num.unwrap_or(f64::NAN) as f32;
            (json_float(f64::from(x)), x.to_le_bytes().to_vec())
        }
        DType::F64 => {
            let x = num.unwrap_or(f64::NAN);
            (json_float(x), x.to_le_bytes().to_vec())
        }
        _ => {
            let x = f.and_then(Value::as_i64).unwrap_or(0);
            let size = match t {
                DType::I8 | DType::U8 | DType::Char => 1,
                DType::I16 | DType::U16 => 2,
                DType::I32 | DType::U32 => 4,
                _ => 8,
            };
            (json!(x), x.to_le_bytes()[..size].to_vec())
        }
    }
}

fn attrs_map(attrs: &[hiha_core::meta::Attr]) -> Map<String, Value> {
    attrs
        .iter()
        .map(|a| (a.name.clone(), attr_json(&a.value)))
        .collect()
}

fn dtype_size(t: DType) -> usize {
    match t {
        DType::I8 | DType::U8 | DType::Char => 1,
        DType::I16 | DType::U16 => 2,
        DType::I32 | DType::U32 | DType::F32 => 4,
        DType::I64 | DType::U64 | DType::F64 => 8,
    }
}

/// Writes every array of `data` into the empty directory `root`.
fn write_all(root: &Path, data: &PreparedDataset) -> Res<()> {
    let meta = data.meta;
    let group = json!({
        "zarr_format": 3,
        "node_type": "group",
        "attributes": attrs_map(&data.global_attrs),
    });
    write_file(
        &root.join("zarr.json"),
        &serde_json::to_vec_pretty(&group).map_err(|e| e.to_string())?,
    )?;
    let len = |d: &String| {
        meta.dim(d)
            .map(|x| x.len)
            .ok_or(format!("dim '{d}' is not defined"))
    };
    for a in &meta.aux_vars {
        let shape = a.dims.iter().map(len).collect::<Res<Vec<usize>>>()?;
        let attrs = attrs_map(&a.attrs);
        if a.dtype == DType::Char {
            if let Some(s) = strings_array(&a.name, &a.dims, &shape, &a.data, attrs.clone()) {
                write_array(root, &s)?;
                continue;
            }
        }
        let (fill, fill_bytes) = fill_of(a.dtype, &attrs);
        write_array(
            root,
            &Array {
                name: &a.name,
                dims: a.dims.clone(),
                chunks: shape.iter().map(|&l| l.max(1)).collect(),
                shape,
                data_type: json!(data_type(a.dtype)),
                fill,
                bytes: le_bytes(a.dtype, &a.data).map_err(|e| format!("'{}': {e}", a.name))?,
                size: dtype_size(a.dtype),
                fill_bytes,
                attrs,
            },
        )?;
    }
    for v in &data.vars {
        let dims: Vec<String> = v
            .dimids
            .iter()
            .map(|&i| meta.dims[i].name.clone())
            .collect();
        let shape: Vec<usize> = v.dimids.iter().map(|&i| meta.dims[i].len).collect();
        let t = v.dtype();
        let bytes = match &v.data {
            VarValues::F32(x) => x.iter().flat_map(|f| f.to_le_bytes()).collect(),
            VarValues::Packed { data, .. } => le_bytes(t, data)?,
        };
        let attrs = attrs_map(&v.attrs);
        let (fill, fill_bytes) = fill_of(t, &attrs);
        let chunks = field_chunks(&shape, dtype_size(t))
            .into_iter()
            .map(|c| c as usize)
            .collect();
        write_array(
            root,
            &Array {
                name: v.name,
                dims,
                shape,
                chunks,
                data_type: json!(data_type(t)),
                fill,
                bytes,
                size: dtype_size(t),
                fill_bytes,
                attrs,
            },
        )?;
    }
    Ok(())
}

/// Writes a prepared dataset as a Zarr v3 store at `path`. The store is
/// built in a hidden directory next to it and renamed into place when
/// complete; an existing store is replaced only with [`Existing::Replace`],
/// and only if it is a Zarr store (anything else at `path` is left alone).
pub(crate) fn write_store(path: &Path, data: &PreparedDataset, existing: Existing) -> Result<u64> {
    let werr = |reason: String| IoError::Write {
        path: path.display().to_string(),
        reason,
    };
    let name = path
        .file_name()
        .ok_or_else(|| werr("the path does not end in a name".into()))?;
    let exists = std::fs::symlink_metadata(path).is_ok();
    if exists {
        if existing == Existing::Refuse {
            return Err(IoError::Exists {
                path: path.display().to_string(),
            });
        }
        if super::read::store_version(path).is_none() {
            return Err(werr(
                "it exists and is not a Zarr store: not replaced (remove it first)".into(),
            ));
        }
    }
    let dir = output_dir(path);
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".hiha-partial-");
    let tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .tempdir_in(dir)
        .map_err(|e| {
            werr(format!(
                "cannot create a directory in {}: {e}",
                dir.display()
            ))
        })?;
    write_all(tmp.path(), data).map_err(werr)?;
    let bytes = super::store_bytes(tmp.path());
    let built: PathBuf = tmp.keep();
    let result = if exists {
        // Move the old store aside (onto a fresh empty directory), the new
        // one in, then remove the old one.
        let mut old_prefix = std::ffi::OsString::from(".");
        old_prefix.push(name);
        old_prefix.push(".hiha-old-");
        tempfile::Builder::new()
            .prefix(&old_prefix)
            .tempdir_in(dir)
            .map(tempfile::TempDir::keep)
            .and_then(|old| {
                if let Err(e) = std::fs::rename(path, &old) {
                    let _ = std::fs::remove_dir(&old);
                    return Err(e);
                }
                if let Err(e) = std::fs::rename(&built, path) {
                    // Put the old store back: the output is never lost.
                    let _ = std::fs::rename(&old, path);
                    return Err(e);
                }
                let _ = std::fs::remove_dir_all(&old);
                Ok(())
            })
    } else {
        std::fs::rename(&built, path)
    };
    result.map_err(|e| {
        let _ = std::fs::remove_dir_all(&built);
        if matches!(
            e.kind(),
            std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists
        ) {
            IoError::Exists {
                path: path.display().to_string(),
            }
        } else {
            werr(e.to_string())
        }
    })?;
    Ok(bytes)
}
