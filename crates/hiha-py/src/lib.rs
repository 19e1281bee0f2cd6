//! `hiha._hiha`: the Python extension module of hiha (pyo3 + numpy).
//!
//! A thin layer over `hiha_core`'s public API; the pure-Python package
//! `hiha` (python/src/hiha) wraps it. Rules kept here:
//! - coding runs with the GIL released ([`Python::detach`]);
//! - every core error becomes a Python exception carrying the core's
//!   message ([`to_py_err`]), and a panic is caught before it reaches the
//!   boundary ([`guarded`]) and raised as `hiha.InternalError`;
//! - float64 input is coded as float32 with the bound tightened by the
//!   rounding to float32, then verified on every element against the
//!   float64 values the caller passed ([`encode`]).

use std::any::Any;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use hiha_core::bound::{Bound as CoreBound, BoundSet};
use hiha_core::codec::{self, CompressOptions, DecodeOptions, NoProgress};
use hiha_core::field::{Field, Shape};
use hiha_core::format::{ArchiveReader, SectionKind, FOOTER_LEN};
use hiha_core::meta::{
    Attr, AttrValue, AuxVar, CoordData, DType, DatasetMeta, Dim, VarLayout, VarMeta,
};
use hiha_core::metrics::Metrics;
use hiha_core::Error as CoreError;
use numpy::ndarray::IxDyn;
use numpy::{
    IntoPyArray, PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArray1, PyReadonlyArrayDyn,
    PyUntypedArrayMethods,
};
use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

create_exception!(
    hiha,
    CorruptArchiveError,
    PyValueError,
    "The bytes are not a valid hiha archive: damaged, truncated, or not an archive at all."
);
create_exception!(
    hiha,
    UnsupportedArchiveError,
    PyValueError,
    "The archive uses a format version or feature this build cannot read."
);
create_exception!(
    hiha,
    BoundViolatedError,
    PyRuntimeError,
    "Verification after encoding found an element outside the bound (a bug, never a tolerance)."
);
create_exception!(
    hiha,
    InternalError,
    PyRuntimeError,
    "A bug in hiha: the Rust code panicked. The panic was caught at the boundary."
);

/// The variable attribute that records a Fortran-ordered input array, so
/// that decoding gives the same memory order back.
const ORDER_ATTR: &str = "_hiha_memory_order";

/// Sections and bytes [`ArchiveFile`] has read from disk, over the process.
static SECTIONS_LOADED: AtomicU64 = AtomicU64::new(0);
static BYTES_LOADED: AtomicU64 = AtomicU64::new(0);

/// A core error as the Python exception of its kind, with the core's message.
fn to_py_err(e: CoreError) -> PyErr {
    let msg = e.to_string();
    match e {
        CoreError::InvalidInput(_) => PyValueError::new_err(msg),
        CoreError::Corrupt(_) | CoreError::Truncated(_) | CoreError::Checksum { .. } => {
            CorruptArchiveError::new_err(msg)
        }
        CoreError::Unsupported(_) => UnsupportedArchiveError::new_err(msg),
        CoreError::BoundViolated(_) => BoundViolatedError::new_err(msg),
        CoreError::Io(_) => PyOSError::new_err(msg),
    }
}

fn panic_message(p: Box<dyn Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Runs `f`, turning a panic into `hiha.InternalError`: no panic crosses
/// into Python.
fn guarded<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        Err(InternalError::new_err(format!(
            "internal error (please report): {}",
            panic_message(p)
        )))
    })
}

/// Like [`guarded`] for a closure returning a core result.
fn core<T>(f: impl FnOnce() -> hiha_core::Result<T>) -> PyResult<T> {
    guarded(|| f().map_err(to_py_err))
}

/// The core's messages name the CLI's flags; Python users wrote a bound
/// string or a keyword, so name the grammar's modes instead.
fn bound_msg(e: &CoreError) -> String {
    e.to_string()
        .replace("--max-abs", "max-abs")
        .replace("--max-rel", "max-rel")
        .replace("--nrmse", "nrmse")
        .replace("--rmse", "rmse")
        .replace("--pw-rel", "pw-rel")
}

/// Parses a bound of the grammar shared with the CLI (`MODE:VALUE[:per-level]`,
/// see `hiha_core::bound::Bound::parse`): ValueError with the core's message.
fn parse_spec(spec: &str) -> PyResult<CoreBound> {
    CoreBound::parse(spec).map_err(|e| PyValueError::new_err(bound_msg(&e)))
}

/// The mode of a bound as the grammar writes it, and whether it is per level.
fn mode_of(b: &CoreBound) -> (&'static str, f64, bool) {
    match *b {
        CoreBound::Nrmse(v) => ("nrmse", v, false),
        CoreBound::Rmse(v) => ("rmse", v, false),
        CoreBound::MaxAbs(v) => ("max-abs", v, false),
        CoreBound::MaxRel(v) => ("max-rel", v, false),
        CoreBound::NrmseLevel(v) => ("nrmse", v, true),
        CoreBound::MaxRelLevel(v) => ("max-rel", v, true),
        CoreBound::PwRel(v) => ("pw-rel", v, false),
    }
}

/// Parses one bound of the grammar shared with the CLI's `--bound` and the
/// config file's `[bounds]`: `MODE:VALUE[:per-level]`. Returns `(mode,
/// value, per_level, spec)` with the mode as the grammar spells it
/// (`nrmse`, `rmse`, `max-abs`, `max-rel`, `pw-rel`) and `spec` the
/// canonical string. ValueError when it does not parse or is out of range.
#[pyfunction]
fn parse_bound(spec: &str) -> PyResult<(&'static str, f64, bool, String)> {
    let b = parse_spec(spec)?;
    let (mode, v, per_level) = mode_of(&b);
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
fn resolve_bounds(
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
            Some(b) => Ok(Some(b.spec())),
            None if !required => Ok(None),
            None => Err(PyValueError::new_err(format!(
                "no bound for variable '{n}': give a default bound (e.g. bound=\"nrmse:1e-4\") \
                     or one for it ({n}=MODE:VALUE)"
            ))),
        })
        .collect()
}

fn bound_parts(b: &CoreBound) -> (&'static str, f64) {
    match *b {
        CoreBound::Nrmse(v) => ("nrmse", v),
        CoreBound::Rmse(v) => ("rmse", v),
        CoreBound::MaxAbs(v) => ("max_abs", v),
        CoreBound::MaxRel(v) => ("max_rel", v),
        CoreBound::NrmseLevel(v) => ("nrmse_per_level", v),
        CoreBound::MaxRelLevel(v) => ("max_rel_per_level", v),
        CoreBound::PwRel(v) => ("pw_rel", v),
    }
}

// ---------------------------------------------------------------- dtypes

fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::I8 => "i8",
        DType::U8 => "u8",
        DType::I16 => "i16",
        DType::U16 => "u16",
        DType::I32 => "i32",
        DType::U32 => "u32",
        DType::I64 => "i64",
        DType::U64 => "u64",
        DType::F32 => "f32",
        DType::F64 => "f64",
        DType::Char => "char",
    }
}

fn parse_dtype(s: &str) -> PyResult<DType> {
    Ok(match s {
        "i8" => DType::I8,
        "u8" => DType::U8,
        "i16" => DType::I16,
        "u16" => DType::U16,
        "i32" => DType::I32,
        "u32" => DType::U32,
        "i64" => DType::I64,
        "u64" => DType::U64,
        "f32" => DType::F32,
        "f64" => DType::F64,
        "char" => DType::Char,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown type name '{other}' (i8, u8, i16, u16, i32, u32, i64, u64, f32, f64, char)"
            )))
        }
    })
}

// ------------------------------------------------- metadata <-> Python

fn attr_value_to_py<'py>(py: Python<'py>, v: &AttrValue) -> PyResult<Bound<'py, PyAny>> {
    fn arr<'py, T: numpy::Element + Clone>(py: Python<'py>, v: &[T]) -> Bound<'py, PyAny> {
        PyArray1::from_vec(py, v.to_vec()).into_any()
    }
    Ok(match v {
        AttrValue::Text(s) => PyString::new(py, s).into_any(),
        AttrValue::I8(v) => arr(py, v),
        AttrValue::U8(v) => arr(py, v),
        AttrValue::I16(v) => arr(py, v),
        AttrValue::U16(v) => arr(py, v),
        AttrValue::I32(v) => arr(py, v),
        AttrValue::U32(v) => arr(py, v),
        AttrValue::I64(v) => arr(py, v),
        AttrValue::U64(v) => arr(py, v),
        AttrValue::F32(v) => arr(py, v),
        AttrValue::F64(v) => arr(py, v),
    })
}

fn vec1<T: numpy::Element + Copy>(o: &Bound<'_, PyAny>) -> Option<Vec<T>> {
    let a = o.extract::<PyReadonlyArray1<'_, T>>().ok()?;
    Some(match a.as_slice() {
        Ok(s) => s.to_vec(),
        Err(_) => a.as_array().iter().copied().collect(),
    })
}

fn attr_value_from_py(o: &Bound<'_, PyAny>) -> PyResult<AttrValue> {
    if let Ok(s) = o.extract::<String>() {
        return Ok(AttrValue::Text(s));
    }
    if let Some(v) = vec1::<f64>(o) {
        return Ok(AttrValue::F64(v));
    }
    if let Some(v) = vec1::<f32>(o) {
        return Ok(AttrValue::F32(v));
    }
    if let Some(v) = vec1::<i64>(o) {
        return Ok(AttrValue::I64(v));
    }
    if let Some(v) = vec1::<i32>(o) {
        return Ok(AttrValue::I32(v));
    }
    if let Some(v) = vec1::<i16>(o) {
        return Ok(AttrValue::I16(v));
    }
    if let Some(v) = vec1::<i8>(o) {
        return Ok(AttrValue::I8(v));
    }
    if let Some(v) = vec1::<u64>(o) {
        return Ok(AttrValue::U64(v));
    }
    if let Some(v) = vec1::<u32>(o) {
        return Ok(AttrValue::U32(v));
    }
    if let Some(v) = vec1::<u16>(o) {
        return Ok(AttrValue::U16(v));
    }
    if let Some(v) = vec1::<u8>(o) {
        return Ok(AttrValue::U8(v));
    }
    Err(PyTypeError::new_err(format!(
        "an attribute value must be a str or a 1-D numpy array of a NetCDF number type, got {}",
        o.get_type().name()?
    )))
}

fn coord_to_py<'py>(py: Python<'py>, d: &CoordData) -> Bound<'py, PyAny> {
    fn arr<'py, T: numpy::Element + Clone>(py: Python<'py>, v: &[T]) -> Bound<'py, PyAny> {
        PyArray1::from_vec(py, v.to_vec()).into_any()
    }
    match d {
        CoordData::F64(v) => arr(py, v),
        CoordData::F32(v) => arr(py, v),
        CoordData::I64(v) => arr(py, v),
        CoordData::I32(v) => arr(py, v),
        CoordData::I16(v) => arr(py, v),
        CoordData::I8(v) => arr(py, v),
        CoordData::U8(v) => arr(py, v),
        CoordData::Text(v) => PyBytes::new(py, v).into_any(),
    }
}

fn coord_from_py(o: &Bound<'_, PyAny>) -> PyResult<CoordData> {
    if let Ok(b) = o.cast::<PyBytes>() {
        return Ok(CoordData::Text(b.as_bytes().to_vec()));
    }
    if let Some(v) = vec1::<f64>(o) {
        return Ok(CoordData::F64(v));
    }
    if let Some(v) = vec1::<f32>(o) {
        return Ok(CoordData::F32(v));
    }
    if let Some(v) = vec1::<i64>(o) {
        return Ok(CoordData::I64(v));
    }
    if let Some(v) = vec1::<i32>(o) {
        return Ok(CoordData::I32(v));
    }
    if let Some(v) = vec1::<i16>(o) {
        return Ok(CoordData::I16(v));
    }
    if let Some(v) = vec1::<i8>(o) {
        return Ok(CoordData::I8(v));
    }
    if let Some(v) = vec1::<u8>(o) {
        return Ok(CoordData::U8(v));
    }
    Err(PyTypeError::new_err(format!(
        "coordinate data must be bytes or a 1-D numpy array of float64, float32, int64, int32, \
         int16, int8 or uint8, got {}",
        o.get_type().name()?
    )))
}

fn attrs_to_py<'py>(py: Python<'py>, attrs: &[Attr]) -> PyResult<Bound<'py, PyList>> {
    let items = attrs
        .iter()
        .map(|a| {
            PyTuple::new(
                py,
                [
                    PyString::new(py, &a.name).into_any(),
                    attr_value_to_py(py, &a.value)?,
                ],
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

fn attrs_from_py(o: &Bound<'_, PyAny>) -> PyResult<Vec<Attr>> {
    let mut out = Vec::new();
    for item in o.try_iter()? {
        let (name, value): (String, Bound<'_, PyAny>) = item?.extract()?;
        out.push(Attr::new(name, attr_value_from_py(&value)?));
    }
    Ok(out)
}

fn get<'py>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<Bound<'py, PyAny>> {
    d.get_item(key)?
        .ok_or_else(|| PyValueError::new_err(format!("metadata lacks the key '{key}'")))
}

/// Builds a [`DatasetMeta`] from the dict that `hiha.xarray` assembles
/// (the same layout [`header`] returns).
fn meta_from_py(d: &Bound<'_, PyDict>) -> PyResult<DatasetMeta> {
    let mut dims = Vec::new();
    for item in get(d, "dims")?.try_iter()? {
        let (name, len, unlimited): (String, usize, bool) = item?.extract()?;
        dims.push(Dim {
            name,
            len,
            unlimited,
        });
    }
    let global_attrs = attrs_from_py(&get(d, "global_attrs")?)?;
    let mut aux_vars = Vec::new();
    for item in get(d, "aux_vars")?.try_iter()? {
        let item = item?;
        let v = item.cast::<PyDict>()?;
        aux_vars.push(AuxVar {
            name: get(v, "name")?.extract()?,
            dims: get(v, "dims")?.extract()?,
            dtype: parse_dtype(&get(v, "dtype")?.extract::<String>()?)?,
            attrs: attrs_from_py(&get(v, "attrs")?)?,
            data: coord_from_py(&get(v, "data")?)?,
        });
    }
    let var = get(d, "var")?;
    let var = var.cast::<PyDict>()?;
    Ok(DatasetMeta {
        dims,
        global_attrs,
        aux_vars,
        var: VarMeta {
            name: get(var, "name")?.extract()?,
            layout: VarLayout {
                dims: get(var, "dims")?.extract()?,
                frame_dims: get(var, "frame_dims")?.extract()?,
                level_dim: get(var, "level_dim")?.extract()?,
                lat_dim: get(var, "lat_dim")?.extract()?,
                lon_dim: get(var, "lon_dim")?.extract()?,
            },
            dtype: parse_dtype(&get(var, "dtype")?.extract::<String>()?)?,
            attrs: attrs_from_py(&get(var, "attrs")?)?,
        },
    })
}

fn meta_to_py<'py>(py: Python<'py>, m: &DatasetMeta, out: &Bound<'py, PyDict>) -> PyResult<()> {
    let dims = m
        .dims
        .iter()
        .map(|d| (d.name.clone(), d.len, d.unlimited))
        .collect::<Vec<_>>();
    out.set_item("dims", dims)?;
    out.set_item("global_attrs", attrs_to_py(py, &m.global_attrs)?)?;
    let aux = PyList::empty(py);
    for v in &m.aux_vars {
        let d = PyDict::new(py);
        d.set_item("name", &v.name)?;
        d.set_item("dims", v.dims.clone())?;
        d.set_item("dtype", dtype_name(v.dtype))?;
        d.set_item("attrs", attrs_to_py(py, &v.attrs)?)?;
        d.set_item("data", coord_to_py(py, &v.data))?;
        aux.append(d)?;
    }
    out.set_item("aux_vars", aux)?;
    out.set_item("var", var_to_py(py, &m.var)?)?;
    Ok(())
}

/// A variable's description: name, dims, layout, dtype and attributes.
fn var_to_py<'py>(py: Python<'py>, v: &VarMeta) -> PyResult<Bound<'py, PyDict>> {
    let var = PyDict::new(py);
    let l = &v.layout;
    var.set_item("name", &v.name)?;
    var.set_item("dims", l.dims.clone())?;
    var.set_item("frame_dims", l.frame_dims)?;
    var.set_item("level_dim", l.level_dim.clone())?;
    var.set_item("lat_dim", &l.lat_dim)?;
    var.set_item("lon_dim", &l.lon_dim)?;
    var.set_item("dtype", dtype_name(v.dtype))?;
    var.set_item("attrs", attrs_to_py(py, &v.attrs)?)?;
    Ok(var)
}

// ------------------------------------------------------ array <-> field

/// The input values as the caller passed them.
enum Values {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

fn read_array(array: &Bound<'_, PyAny>) -> PyResult<(Vec<usize>, Values, bool)> {
    if let Ok(a) = array.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        let fortran = a.is_fortran_contiguous() && !a.is_c_contiguous();
        let v = match a.as_slice() {
            Ok(s) if a.is_c_contiguous() => s.to_vec(),
            _ => a.as_array().iter().copied().collect(),
        };
        return Ok((a.shape().to_vec(), Values::F32(v), fortran));
    }
    if let Ok(a) = array.extract::<PyReadonlyArrayDyn<'_, f64>>() {
        let fortran = a.is_fortran_contiguous() && !a.is_c_contiguous();
        let v = match a.as_slice() {
            Ok(s) if a.is_c_contiguous() => s.to_vec(),
            _ => a.as_array().iter().copied().collect(),
        };
        return Ok((a.shape().to_vec(), Values::F64(v), fortran));
    }
    Err(PyTypeError::new_err(format!(
        "hiha codes numpy arrays of float32 or float64 (native byte order), got {}",
        array.get_type().name()?
    )))
}

/// The metadata of a plain array: dims `dim_0 …`; the last two are lat and
/// lon, the third-last the level (for 3-D and more), the rest are frames.
fn plain_meta(shape: &[usize], dtype: DType, fortran: bool) -> PyResult<DatasetMeta> {
    let nd = shape.len();
    if nd == 0 {
        return Err(PyValueError::new_err(
            "hiha codes arrays of 1 to 5 (or more) dimensions, got a 0-d array",
        ));
    }
    let names: Vec<String> = (0..nd).map(|i| format!("dim_{i}")).collect();
    let dims = names
        .iter()
        .zip(shape)
        .map(|(n, &len)| Dim {
            name: n.clone(),
            len,
            unlimited: false,
        })
        .collect();
    let (frame_dims, level_dim, lat_dim) = match nd {
        1 => (0, None, String::new()),
        2 => (0, None, names[0].clone()),
        _ => (nd - 3, Some(names[nd - 3].clone()), names[nd - 2].clone()),
    };
    let mut attrs = Vec::new();
    if fortran {
        attrs.push(Attr::new(ORDER_ATTR, AttrValue::Text("F".into())));
    }
    Ok(DatasetMeta {
        dims,
        global_attrs: vec![],
        aux_vars: vec![],
        var: VarMeta {
            name: "data".into(),
            layout: VarLayout {
                dims: names.clone(),
                frame_dims,
                level_dim,
                lat_dim,
                lon_dim: names[nd - 1].clone(),
            },
            dtype,
            attrs,
        },
    })
}

fn dim_len(meta: &DatasetMeta, name: &str) -> Option<usize> {
    meta.dim(name).map(|d| d.len)
}

/// The variable's N-D shape according to `meta`, when its dims are known.
fn nd_shape(meta: &DatasetMeta) -> Option<Vec<usize>> {
    meta.var
        .layout
        .dims
        .iter()
        .map(|d| dim_len(meta, d))
        .collect()
}

/// The 4-D field shape of an N-D variable described by `meta`, checked
/// against the array's shape.
fn field_shape(meta: &DatasetMeta, shape: &[usize]) -> PyResult<Shape> {
    let l = &meta.var.layout;
    let bad =
        |why: String| PyValueError::new_err(format!("metadata does not fit the array: {why}"));
    let declared = nd_shape(meta).ok_or_else(|| bad("a variable dim is not a dim".into()))?;
    if declared != shape {
        return Err(bad(format!(
            "dims {:?} have lengths {declared:?}, the array has shape {shape:?}",
            l.dims
        )));
    }
    let in_var = |name: &str| l.dims.iter().any(|d| d == name);
    if l.frame_dims > l.dims.len() {
        return Err(bad("more frame dims than dims".into()));
    }
    let frames = shape[..l.frame_dims].iter().product::<usize>();
    let levels = match &l.level_dim {
        Some(d) if in_var(d) => dim_len(meta, d).unwrap_or(1),
        Some(d) => return Err(bad(format!("level dim '{d}' is not a dim of the variable"))),
        None => 1,
    };
    let lat = if in_var(&l.lat_dim) {
        dim_len(meta, &l.lat_dim).unwrap_or(1)
    } else {
        1
    };
    if !in_var(&l.lon_dim) {
        return Err(bad(format!(
            "lon dim '{}' is not a dim of the variable",
            l.lon_dim
        )));
    }
    let lon = dim_len(meta, &l.lon_dim).unwrap_or(1);
    let s = Shape::new(frames, levels, lat, lon);
    let n: usize = shape.iter().product();
    if s.checked_len().ok() != Some(n) {
        return Err(bad(format!(
            "frames x levels x lat x lon = {frames} x {levels} x {lat} x {lon} is not the array's \
             {n} elements"
        )));
    }
    Ok(s)
}

/// How far float32 values lie from the float64 values they round.
struct Narrowed {
    values: Vec<f32>,
    max_dev: f64,
    rms_dev: f64,
    range64: f64,
}

fn narrow(x: &[f64]) -> PyResult<Narrowed> {
    let mut values = Vec::with_capacity(x.len());
    let (mut max_dev, mut ss, mut n) = (0.0f64, 0.0f64, 0usize);
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for (i, &v) in x.iter().enumerate() {
        let y = v as f32;
        if v.is_finite() {
            if !y.is_finite() {
                return Err(PyValueError::new_err(format!(
                    "float64 value {v:e} at flat index {i} is outside float32's range: hiha codes \
                     float64 as float32"
                )));
            }
            let d = (v - y as f64).abs();
            max_dev = max_dev.max(d);
            ss += d * d;
            n += 1;
            lo = lo.min(v);
            hi = hi.max(v);
        }
        values.push(y);
    }
    Ok(Narrowed {
        values,
        max_dev,
        rms_dev: if n > 0 { (ss / n as f64).sqrt() } else { 0.0 },
        range64: if n > 0 { hi - lo } else { 0.0 },
    })
}

/// The bound to ask of the core (which verifies against the float32
/// values) so that `user` holds against the float64 values: by the triangle
/// inequality, the error against x is at most the coded error against
/// f32(x) plus |x − f32(x)| (pointwise, and in RMS).
fn tightened(user: CoreBound, n: &Narrowed, range32: f64) -> PyResult<CoreBound> {
    // Absorbs the rounding of the few f64 operations in the argument above.
    const SAFETY: f64 = 1.0 - 1e-9;
    let too_fine = || {
        PyValueError::new_err(format!(
            "{user} is finer than float32 can hold these float64 values (hiha codes float64 as \
             float32, and the rounding alone moves them by up to {:.3e})",
            n.max_dev
        ))
    };
    if user.is_per_level() || matches!(user, CoreBound::PwRel(_)) {
        return Err(PyValueError::new_err(
            "per-level and pointwise relative bounds take float32 arrays (float64 input is not \
             supported with them yet)",
        ));
    }
    if range32 == 0.0 {
        // A constant float32 field is coded exactly: only the rounding counts.
        let ok = match user {
            CoreBound::MaxAbs(e) => n.max_dev <= e,
            CoreBound::Rmse(e) => n.rms_dev <= e,
            CoreBound::Nrmse(t) => n.rms_dev <= t * n.range64,
            CoreBound::MaxRel(r) => n.max_dev <= r * n.range64,
            CoreBound::NrmseLevel(_) | CoreBound::MaxRelLevel(_) | CoreBound::PwRel(_) => false,
        };
        return if ok { Ok(user) } else { Err(too_fine()) };
    }
    let rel = |budget: f64| budget / range32;
    let (b, left) = match user {
        CoreBound::MaxAbs(e) => {
            let t = (e - n.max_dev) * SAFETY;
            (CoreBound::MaxAbs(t), t)
        }
        CoreBound::Rmse(e) => {
            let t = (e - n.rms_dev) * SAFETY;
            (CoreBound::Rmse(t), t)
        }
        CoreBound::Nrmse(t) => {
            let b = (t * n.range64 - n.rms_dev) * SAFETY;
            (CoreBound::Nrmse(rel(b)), b)
        }
        CoreBound::MaxRel(r) => {
            let b = (r * n.range64 - n.max_dev) * SAFETY;
            (CoreBound::MaxRel(rel(b)), b)
        }
        CoreBound::NrmseLevel(_) | CoreBound::MaxRelLevel(_) | CoreBound::PwRel(_) => {
            return Err(too_fine())
        }
    };
    if !(left > 0.0 && left.is_finite()) {
        return Err(too_fine());
    }
    Ok(b)
}

/// Checks the decoded float32 values against the caller's float64 values:
/// specials at the same places, the bound on every other element.
fn verify_f64(x: &[f64], back: &[f32], user: &CoreBound) -> PyResult<Metrics> {
    if x.len() != back.len() {
        return Err(BoundViolatedError::new_err(format!(
            "decoded {} values for {} inputs",
            back.len(),
            x.len()
        )));
    }
    let (mut n, mut sse, mut max_abs) = (0usize, 0.0f64, 0.0f64);
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for (i, (&a, &b)) in x.iter().zip(back).enumerate() {
        let b = b as f64;
        if !a.is_finite() {
            let same = if a.is_nan() { b.is_nan() } else { a == b };
            if !same {
                return Err(BoundViolatedError::new_err(format!(
                    "element {i} was {a} and came back as {b}"
                )));
            }
            continue;
        }
        if !b.is_finite() {
            return Err(BoundViolatedError::new_err(format!(
                "element {i} was {a} and came back as {b}"
            )));
        }
        let d = (a - b).abs();
        n += 1;
        sse += d * d;
        max_abs = max_abs.max(d);
        lo = lo.min(a);
        hi = hi.max(a);
    }
    let range = if n > 0 { hi - lo } else { 0.0 };
    let rmse = if n > 0 { (sse / n as f64).sqrt() } else { 0.0 };
    let nrmse = if range > 0.0 {
        rmse / range
    } else if rmse == 0.0 {
        0.0
    } else {
        f64::INFINITY
    };
    let m = Metrics {
        n,
        range,
        rmse,
        nrmse,
        psnr: if rmse == 0.0 {
            f64::INFINITY
        } else {
            20.0 * (range / rmse).log10()
        },
        max_abs,
    };
    user.check(&m).map_err(to_py_err)?;
    Ok(m)
}

/// One variable read from Python, ready to code without the GIL.
struct Prepared {
    user: CoreBound,
    fshape: Shape,
    values: Values,
    meta: DatasetMeta,
}

/// Reads an array and its description (or the plain description of its
/// shape) and checks that they fit, with the GIL held.
fn prepare(
    array: &Bound<'_, PyAny>,
    bound: &str,
    meta: Option<&Bound<'_, PyDict>>,
    fortran: bool,
) -> PyResult<Prepared> {
    let user = parse_spec(bound)?;
    let (shape, values, f_order) = guarded(|| read_array(array))?;
    let fortran = fortran || f_order;
    let dtype = match values {
        Values::F32(_) => DType::F32,
        Values::F64(_) => DType::F64,
    };
    let meta = match meta {
        Some(d) => meta_from_py(d)?,
        None => plain_meta(&shape, dtype, fortran)?,
    };
    let fshape = field_shape(&meta, &shape)?;
    Ok(Prepared {
        user,
        fshape,
        values,
        meta,
    })
}

/// Codes one prepared variable into a one-variable archive, verified on
/// every element (float64 input against its float64 values). Runs without
/// the GIL.
fn encode_prepared(p: Prepared, chunk_frames: Option<usize>) -> PyResult<Vec<u8>> {
    let Prepared {
        user,
        fshape,
        values,
        meta,
    } = p;
    guarded(|| {
        let (field, bound, source64) = match values {
            Values::F32(v) => (Field::new(fshape, v, None).map_err(to_py_err)?, user, None),
            Values::F64(x) => {
                let n = narrow(&x)?;
                let field = Field::new(fshape, n.values.clone(), None).map_err(to_py_err)?;
                let range32 = field
                    .value_range()
                    .map(|(lo, hi)| hi as f64 - lo as f64)
                    .unwrap_or(0.0);
                let b = tightened(user, &n, range32)?;
                (field, b, Some(x))
            }
        };
        let mut opts = CompressOptions::new(bound);
        opts.chunk_frames = chunk_frames;
        let (bytes, _) = codec::compress(&field, &meta, &opts, &NoProgress).map_err(to_py_err)?;
        if let Some(x) = source64 {
            drop(field);
            let (back, _) = codec::decompress(&bytes, None).map_err(to_py_err)?;
            verify_f64(&x, &back.values, &user)?;
        }
        Ok(bytes)
    })
}

fn check_chunk_frames(chunk_frames: Option<usize>) -> PyResult<()> {
    if chunk_frames == Some(0) {
        return Err(PyValueError::new_err("chunk_frames must be at least 1"));
    }
    Ok(())
}

/// Encodes a float32 or float64 numpy array into a `.hiha` archive.
///
/// `bound` is a bound of the grammar shared with the CLI
/// (`MODE:VALUE[:per-level]`, e.g. `nrmse:1e-4`, `max-abs:0.5`,
/// `pw-rel:1e-3`). `meta` (optional) is the dataset description
/// `hiha.xarray` builds; without it the array's last two axes are lat/lon,
/// the third-last the level and the others frames. The bound is verified on
/// every element against the values passed (for float64, against the
/// float64 values). `fortran` records that the caller's array was
/// Fortran-ordered (decoding then returns that order).
#[pyfunction]
#[pyo3(signature = (array, bound, chunk_frames=None, meta=None, fortran=false))]
fn encode<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyAny>,
    bound: &str,
    chunk_frames: Option<usize>,
    meta: Option<&Bound<'py, PyDict>>,
    fortran: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    check_chunk_frames(chunk_frames)?;
    let p = prepare(array, bound, meta, fortran)?;
    let bytes = py.detach(move || encode_prepared(p, chunk_frames))?;
    Ok(PyBytes::new(py, &bytes))
}

/// Encodes several variables of one dataset into one multi-variable archive
/// (format 2.1; one variable gives a plain one-variable archive). `items`
/// is a sequence of `(array, bound, meta)`, the metas sharing their dims,
/// global attributes and auxiliary variables (`hiha.xarray.to_hiha` builds
/// them). Each variable is coded and verified on its own, with its own
/// bound, one at a time (so that at most one variable's working memory is
/// held besides the inputs).
#[pyfunction]
#[pyo3(signature = (items, chunk_frames=None))]
fn encode_many<'py>(
    py: Python<'py>,
    items: &Bound<'py, PyAny>,
    chunk_frames: Option<usize>,
) -> PyResult<Bound<'py, PyBytes>> {
    check_chunk_frames(chunk_frames)?;
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for item in items.try_iter()? {
        let item = item?;
        let (array, bound, meta): (Bound<'py, PyAny>, String, Bound<'py, PyDict>) =
            item.extract()?;
        let p = prepare(&array, &bound, Some(&meta), false)?;
        parts.push(py.detach(move || encode_prepared(p, chunk_frames))?);
    }
    if parts.is_empty() {
        return Err(PyValueError::new_err("no variables to encode"));
    }
    let bytes = py.detach(|| {
        core(|| {
            let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            hiha_core::format::merge(&slices)
        })
    })?;
    Ok(PyBytes::new(py, &bytes))
}

/// The archive bytes of `data` (bytes, or a 1-D uint8 numpy array).
enum Data<'py> {
    Bytes(Bound<'py, PyBytes>),
    Array(PyReadonlyArray1<'py, u8>),
}

impl<'py> Data<'py> {
    fn from_py(o: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(b) = o.cast::<PyBytes>() {
            return Ok(Data::Bytes(b.clone()));
        }
        if let Ok(a) = o.extract::<PyReadonlyArray1<'py, u8>>() {
            if a.as_slice().is_ok() {
                return Ok(Data::Array(a));
            }
        }
        Err(PyTypeError::new_err(format!(
            "archive data must be bytes or a contiguous 1-D uint8 numpy array, got {}",
            o.get_type().name()?
        )))
    }
    fn slice(&self) -> &[u8] {
        match self {
            Data::Bytes(b) => b.as_bytes(),
            Data::Array(a) => a.as_slice().unwrap_or(&[]),
        }
    }
}

/// A decoded field as a numpy array of the variable's N-D shape (float64
/// when the archive was written from float64, else float32).
fn field_to_py<'py>(
    py: Python<'py>,
    field: Field,
    meta: &DatasetMeta,
) -> PyResult<Bound<'py, PyAny>> {
    let n = field.values.len();
    let shape = match nd_shape(meta) {
        Some(s) if s.iter().product::<usize>() == n && !s.is_empty() => s,
        _ => {
            let s = field.shape;
            vec![s.frames, s.levels, s.lat, s.lon]
        }
    };
    let arr: Bound<'py, PyAny> = if meta.var.dtype == DType::F64 {
        let v: Vec<f64> = py.detach(|| field.values.iter().map(|&v| v as f64).collect());
        v.into_pyarray(py)
            .reshape(IxDyn(&shape))
            .map(|a: Bound<'py, PyArrayDyn<f64>>| a.into_any())?
    } else {
        field
            .values
            .into_pyarray(py)
            .reshape(IxDyn(&shape))
            .map(|a: Bound<'py, PyArrayDyn<f32>>| a.into_any())?
    };
    let fortran = meta
        .var
        .attrs
        .iter()
        .any(|a| a.name == ORDER_ATTR && a.value == AttrValue::Text("F".into()));
    if fortran && shape.len() > 1 {
        return py.import("numpy")?.call_method1("asfortranarray", (arr,));
    }
    Ok(arr)
}

fn frame_range(frames: Option<(usize, usize)>) -> PyResult<Option<Range<usize>>> {
    match frames {
        None => Ok(None),
        Some((a, b)) if a < b => Ok(Some(a..b)),
        Some((a, b)) => Err(PyValueError::new_err(format!(
            "frames ({a}, {b}): the start must be below the end"
        ))),
    }
}

/// The index of variable `variable` of the archive, or of its only
/// variable when `None`; ValueError naming the variables otherwise.
fn variable_k(reader: &ArchiveReader<'_>, variable: Option<&str>) -> PyResult<usize> {
    let names = || reader.header().variable_names().join(", ");
    match variable {
        Some(v) => reader.variable_index(v).ok_or_else(|| {
            PyValueError::new_err(format!(
                "the archive has no variable '{v}'; it holds {}",
                names()
            ))
        }),
        None if reader.variable_count() == 1 => Ok(0),
        None => Err(PyValueError::new_err(format!(
            "the archive holds {} variables ({}); name the one to decode with variable=",
            reader.variable_count(),
            names()
        ))),
    }
}

/// Maps the section indices of a [`ArchiveReader::for_variable`] view to
/// the indices of the whole archive (sections are told apart by offset).
fn global_indices(
    whole: &ArchiveReader<'_>,
    view: &ArchiveReader<'_>,
    idx: &[usize],
) -> Vec<usize> {
    let by_offset: std::collections::HashMap<u64, usize> = whole
        .sections()
        .iter()
        .enumerate()
        .map(|(i, s)| (s.offset, i))
        .collect();
    idx.iter()
        .filter_map(|&i| view.sections().get(i))
        .filter_map(|s| by_offset.get(&s.offset).copied())
        .collect()
}

/// Decodes an archive (bytes or a uint8 array) to a numpy array; `frames`
/// `(a, b)` decodes only flattened frames `a..b`, reading only the
/// sections they need. `variable` names the variable of a multi-variable
/// archive (required there; optional for a one-variable archive).
#[pyfunction]
#[pyo3(signature = (data, frames=None, variable=None))]
fn decode<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    frames: Option<(usize, usize)>,
    variable: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let data = Data::from_py(data)?;
    let frames = frame_range(frames)?;
    let bytes = data.slice();
    let (field, meta) = py.detach(|| {
        core(|| match &variable {
            Some(v) => codec::decompress_variable(bytes, v, frames, &DecodeOptions::default()),
            None => codec::decompress(bytes, frames),
        })
    })?;
    field_to_py(py, field, &meta)
}

/// The names of the variables an archive holds, in archive order.
#[pyfunction]
fn variables(data: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    let data = Data::from_py(data)?;
    core(|| codec::variables(data.slice()))
}

/// The residual sections' frame ranges of a one-variable reader or view.
fn chunks_of(reader: &ArchiveReader<'_>) -> Vec<(u32, u32)> {
    let mut chunks: Vec<(u32, u32)> = reader
        .sections()
        .iter()
        .filter(|s| s.kind == SectionKind::Residual)
        .map(|s| (s.frames.start, s.frames.end))
        .collect();
    chunks.sort_unstable();
    chunks.dedup();
    chunks
}

fn header_to_py<'py>(py: Python<'py>, reader: &ArchiveReader<'_>) -> PyResult<Bound<'py, PyDict>> {
    let h = reader.header();
    let d = PyDict::new(py);
    d.set_item("version", reader.version())?;
    let s = h.shape;
    d.set_item("shape", (s.frames, s.levels, s.lat, s.lon))?;
    d.set_item("bound", bound_parts(&h.bound))?;
    d.set_item("bound_spec", h.bound.spec())?;
    d.set_item("codec_config", &h.codec_config)?;
    meta_to_py(py, &h.meta, &d)?;
    let sections = reader
        .sections()
        .iter()
        .map(|s| (s.kind.name(), s.frames.start, s.frames.end, s.len))
        .collect::<Vec<_>>();
    d.set_item("sections", sections)?;
    // Every variable: its description, shape, bound, chunks (the frame
    // ranges of its residual sections) and sections (archive indices).
    let vars = PyList::empty(py);
    let mut chunks0 = Vec::new();
    for k in 0..reader.variable_count() {
        let view = core(|| reader.for_variable(k))?;
        let vh = view.header();
        let v = var_to_py(py, &vh.meta.var)?;
        let s = vh.shape;
        v.set_item("shape", (s.frames, s.levels, s.lat, s.lon))?;
        v.set_item("bound", bound_parts(&vh.bound))?;
        v.set_item("bound_spec", vh.bound.spec())?;
        v.set_item("codec_config", &vh.codec_config)?;
        let chunks = chunks_of(&view);
        if k == 0 {
            chunks0 = chunks.clone();
        }
        v.set_item("chunks", chunks)?;
        let all: Vec<usize> = (0..view.sections().len()).collect();
        v.set_item("sections", global_indices(reader, &view, &all))?;
        vars.append(v)?;
    }
    d.set_item("variables", vars)?;
    d.set_item("chunks", chunks0)?;
    Ok(d)
}

/// The archive's header (shape, bound, dims, coordinates, attributes,
/// sections, and every variable's description) without decoding any values.
#[pyfunction]
fn header<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let data = Data::from_py(data)?;
    let bytes = data.slice();
    let reader = core(|| ArchiveReader::open(bytes))?;
    header_to_py(py, &reader)
}

/// The indices (in the archive) of the sections needed to decode flattened
/// frames `a..b` of `variable` (the only variable when `None`).
#[pyfunction]
#[pyo3(signature = (data, a, b, variable=None))]
fn sections_for_frames(
    data: &Bound<'_, PyAny>,
    a: u32,
    b: u32,
    variable: Option<String>,
) -> PyResult<Vec<usize>> {
    let data = Data::from_py(data)?;
    let bytes = data.slice();
    let reader = core(|| ArchiveReader::open(bytes))?;
    let k = variable_k(&reader, variable.as_deref())?;
    let view = core(|| reader.for_variable(k))?;
    let idx = core(|| view.sections_for_frames(a..b))?;
    Ok(global_indices(&reader, &view, &idx))
}

/// Benchmark aid (scripts/bench_python.py): times `repeats` runs of the
/// core's own `compress` and `decompress` on a float32 array, from a field
/// already built, without any Python in the timed region. Returns the
/// encode and decode seconds of each run and the archive size.
#[pyfunction]
#[pyo3(signature = (array, bound, repeats=3))]
fn time_core(
    py: Python<'_>,
    array: &Bound<'_, PyAny>,
    bound: &str,
    repeats: usize,
) -> PyResult<(Vec<f64>, Vec<f64>, usize)> {
    let bound = parse_spec(bound)?;
    let (shape, values, _) = guarded(|| read_array(array))?;
    let Values::F32(values) = values else {
        return Err(PyTypeError::new_err("time_core takes float32 arrays"));
    };
    let meta = plain_meta(&shape, DType::F32, false)?;
    let fshape = field_shape(&meta, &shape)?;
    py.detach(move || {
        guarded(|| {
            let field = Field::new(fshape, values, None).map_err(to_py_err)?;
            let opts = CompressOptions::new(bound);
            let (mut enc, mut dec, mut size) = (Vec::new(), Vec::new(), 0);
            for _ in 0..repeats.max(1) {
                let t = std::time::Instant::now();
                let (bytes, _) =
                    codec::compress(&field, &meta, &opts, &NoProgress).map_err(to_py_err)?;
                enc.push(t.elapsed().as_secs_f64());
                let t = std::time::Instant::now();
                let back = codec::decompress(&bytes, None).map_err(to_py_err)?;
                dec.push(t.elapsed().as_secs_f64());
                drop(back);
                size = bytes.len();
            }
            Ok((enc, dec, size))
        })
    })
}

/// `(sections, bytes)` that [`ArchiveFile`]s have read from disk in this
/// process since the last [`reset_io_stats`].
#[pyfunction]
fn io_stats() -> (u64, u64) {
    (
        SECTIONS_LOADED.load(Ordering::Relaxed),
        BYTES_LOADED.load(Ordering::Relaxed),
    )
}

#[pyfunction]
fn reset_io_stats() {
    SECTIONS_LOADED.store(0, Ordering::Relaxed);
    BYTES_LOADED.store(0, Ordering::Relaxed);
}

struct FileState {
    file: File,
    /// The archive's bytes where loaded, zeros elsewhere (a section that
    /// was not loaded fails its CRC if anything tries to use it).
    buf: Vec<u8>,
    loaded: Vec<bool>,
    sections_loaded: u64,
    bytes_loaded: u64,
}

/// A `.hiha` file opened for random access: opening reads the header and
/// the frame index; [`ArchiveFile::read`] reads from disk only the sections
/// the asked frames need, then decodes them.
#[pyclass(frozen, module = "hiha._hiha")]
struct ArchiveFile {
    size: u64,
    state: Mutex<FileState>,
}

fn read_at(file: &mut File, at: u64, out: &mut [u8]) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(out)
}

/// Reads a LEB128 varint (at most 10 bytes).
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &x) in b.iter().take(10).enumerate() {
        v |= u64::from(x & 0x7F).checked_shl(7 * i as u32)?;
        if x & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

impl ArchiveFile {
    fn open_path(path: &str) -> PyResult<Self> {
        let io = |e: std::io::Error| PyOSError::new_err(format!("{path}: {e}"));
        let mut file = File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        let n = usize::try_from(size)
            .map_err(|_| PyValueError::new_err(format!("{path}: file too large")))?;
        let mut buf = vec![0u8; n];
        // Preamble, header and its CRC.
        let pre = n.min(22);
        read_at(&mut file, 0, &mut buf[..pre]).map_err(io)?;
        let head_end = match buf.get(12..pre).and_then(varint) {
            Some((len, k)) => (12 + k as u64).saturating_add(len).saturating_add(4),
            None => size,
        };
        let head_end = head_end.min(size) as usize;
        read_at(&mut file, 0, &mut buf[..head_end]).map_err(io)?;
        // Footer and index.
        if n >= FOOTER_LEN {
            read_at(
                &mut file,
                (n - FOOTER_LEN) as u64,
                &mut buf[n - FOOTER_LEN..],
            )
            .map_err(io)?;
            let len = u32::from_le_bytes([buf[n - 8], buf[n - 7], buf[n - 6], buf[n - 5]]) as usize;
            let start = (n - FOOTER_LEN).saturating_sub(len);
            read_at(&mut file, start as u64, &mut buf[start..n - FOOTER_LEN]).map_err(io)?;
        }
        let sections = core(|| ArchiveReader::open(&buf).map(|r| r.sections().len()))?;
        Ok(Self {
            size,
            state: Mutex::new(FileState {
                file,
                buf,
                loaded: vec![false; sections],
                sections_loaded: 0,
                bytes_loaded: 0,
            }),
        })
    }

    fn lock(&self) -> PyResult<std::sync::MutexGuard<'_, FileState>> {
        self.state
            .lock()
            .map_err(|_| InternalError::new_err("archive file state poisoned by an earlier panic"))
    }
}

/// Loads the sections variable `k` needs for `frames` (all its frames
/// when `None`) from disk into the buffer.
fn load_sections(st: &mut FileState, frames: Option<Range<usize>>, k: usize) -> PyResult<()> {
    let wanted: Vec<(usize, u64, u64)> = {
        let reader = ArchiveReader::open(&st.buf).map_err(to_py_err)?;
        let view = reader.for_variable(k).map_err(to_py_err)?;
        let idx = match frames {
            Some(r) => {
                let a = u32::try_from(r.start).unwrap_or(u32::MAX);
                let b = u32::try_from(r.end).unwrap_or(u32::MAX);
                view.sections_for_frames(a..b).map_err(to_py_err)?
            }
            None => (0..view.sections().len()).collect(),
        };
        global_indices(&reader, &view, &idx)
            .into_iter()
            .filter(|&i| !st.loaded[i])
            .map(|i| {
                let s = &reader.sections()[i];
                (i, s.offset, s.len)
            })
            .collect()
    };
    for (i, off, len) in wanted {
        let (a, b) = (off as usize, (off + len) as usize);
        read_at(&mut st.file, off, &mut st.buf[a..b])
            .map_err(|e| PyOSError::new_err(format!("reading section {i}: {e}")))?;
        st.loaded[i] = true;
        st.sections_loaded += 1;
        st.bytes_loaded += len;
        SECTIONS_LOADED.fetch_add(1, Ordering::Relaxed);
        BYTES_LOADED.fetch_add(len, Ordering::Relaxed);
    }
    Ok(())
}

#[pymethods]
impl ArchiveFile {
    #[new]
    fn new(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        let path = path.to_string_lossy().into_owned();
        py.detach(|| guarded(|| Self::open_path(&path)))
    }

    /// The header, as [`header`] gives it.
    fn header<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let st = self.lock()?;
        let reader = core(|| ArchiveReader::open(&st.buf))?;
        header_to_py(py, &reader)
    }

    /// The names of the archive's variables, in archive order.
    fn variables(&self) -> PyResult<Vec<String>> {
        let st = self.lock()?;
        core(|| codec::variables(&st.buf))
    }

    /// Decodes flattened frames `a..b` (all frames when `None`) of
    /// `variable` (the only one when `None`), reading from disk only the
    /// sections they need that were not read before.
    #[pyo3(signature = (frames=None, variable=None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        frames: Option<(usize, usize)>,
        variable: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let frames = frame_range(frames)?;
        let (field, meta) = py.detach(|| {
            guarded(|| {
                let mut st = self.lock()?;
                let (k, name) = {
                    let reader = ArchiveReader::open(&st.buf).map_err(to_py_err)?;
                    let k = variable_k(&reader, variable.as_deref())?;
                    (k, reader.header().variable_names()[k].to_string())
                };
                load_sections(&mut st, frames.clone(), k)?;
                codec::decompress_variable(&st.buf, &name, frames, &DecodeOptions::default())
                    .map_err(to_py_err)
            })
        })?;
        field_to_py(py, field, &meta)
    }

    /// Size of the file in bytes.
    #[getter]
    fn size(&self) -> u64 {
        self.size
    }

    /// Sections read from disk by this file so far.
    #[getter]
    fn sections_loaded(&self) -> PyResult<u64> {
        Ok(self.lock()?.sections_loaded)
    }

    /// Section payload bytes read from disk by this file so far.
    #[getter]
    fn bytes_loaded(&self) -> PyResult<u64> {
        Ok(self.lock()?.bytes_loaded)
    }
}

#[pymodule]
fn _hiha(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    m.add_function(wrap_pyfunction!(encode_many, m)?)?;
    m.add_function(wrap_pyfunction!(parse_bound, m)?)?;
    m.add_function(wrap_pyfunction!(resolve_bounds, m)?)?;
    m.add_function(wrap_pyfunction!(variables, m)?)?;
    m.add_function(wrap_pyfunction!(time_core, m)?)?;
    m.add_function(wrap_pyfunction!(header, m)?)?;
    m.add_function(wrap_pyfunction!(sections_for_frames, m)?)?;
    m.add_function(wrap_pyfunction!(io_stats, m)?)?;
    m.add_function(wrap_pyfunction!(reset_io_stats, m)?)?;
    m.add_class::<ArchiveFile>()?;
    m.add("CorruptArchiveError", py.get_type::<CorruptArchiveError>())?;
    m.add(
        "UnsupportedArchiveError",
        py.get_type::<UnsupportedArchiveError>(),
    )?;
    m.add("BoundViolatedError", py.get_type::<BoundViolatedError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    m.add("FORMAT_VERSION", hiha_core::format::FORMAT_VERSION)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
