//! numpy arrays to fields and back: reading float32/float64 input, the
//! plain layout of an unlabelled array, float64 coded as float32 with the
//! bound tightened and verified against the float64 values, and decoded
//! fields as numpy arrays of the original shape, dtype and order.

use std::ops::Range;

use hiha_core::bound::Bound as CoreBound;
use hiha_core::codec::{self, CompressOptions, NoProgress};
use hiha_core::field::{Field, Shape};
use hiha_core::meta::{Attr, AttrValue, DType, DatasetMeta, Dim, VarLayout, VarMeta};
use hiha_core::metrics::Metrics;
use numpy::ndarray::IxDyn;
use numpy::{
    IntoPyArray, PyArrayDyn, PyArrayMethods, PyReadonlyArray1, PyReadonlyArrayDyn,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::bounds::*;
use crate::errors::*;
use crate::meta::*;

/// The variable attribute that records a Fortran-ordered input array, so
/// that decoding gives the same memory order back.
pub(crate) const ORDER_ATTR: &str = "_hiha_memory_order";

// ------------------------------------------------------ array <-> field

/// The input values as the caller passed them.
pub(crate) enum Values {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

pub(crate) fn read_array(array: &Bound<'_, PyAny>) -> PyResult<(Vec<usize>, Values, bool)> {
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
pub(crate) fn plain_meta(shape: &[usize], dtype: DType, fortran: bool) -> PyResult<DatasetMeta> {
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

pub(crate) fn dim_len(meta: &DatasetMeta, name: &str) -> Option<usize> {
    meta.dim(name).map(|d| d.len)
}

/// The variable's N-D shape according to `meta`, when its dims are known.
pub(crate) fn nd_shape(meta: &DatasetMeta) -> Option<Vec<usize>> {
    meta.var
        .layout
        .dims
        .iter()
        .map(|d| dim_len(meta, d))
        .collect()
}

/// The 4-D field shape of an N-D variable described by `meta`, checked
/// against the array's shape.
pub(crate) fn field_shape(meta: &DatasetMeta, shape: &[usize]) -> PyResult<Shape> {
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
pub(crate) struct Narrowed {
    values: Vec<f32>,
    max_dev: f64,
    rms_dev: f64,
    range64: f64,
}

pub(crate) fn narrow(x: &[f64]) -> PyResult<Narrowed> {
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
pub(crate) fn tightened(user: CoreBound, n: &Narrowed, range32: f64) -> PyResult<CoreBound> {
    // Absorbs the rounding of the few f64 operations in the argument above.
    const SAFETY: f64 = 1.0 - 1e-9;
    let too_fine = || {
        PyValueError::new_err(format!(
            "{user} is finer than float32 can hold these float64 values (hiha codes float64 as \
             float32, and the rounding alone moves them by up to {:.3e})",
            n.max_dev
        ))
    };
    if user.is_per_level() || matches!(user, CoreBound::PwRel(_) | CoreBound::Spread(_)) {
        return Err(PyValueError::new_err(
            "per-level, pointwise relative and spread bounds take float32 arrays (float64 input \
             is not supported with them yet)",
        ));
    }
    if range32 == 0.0 {
        // A constant float32 field is coded exactly: only the rounding counts.
        let ok = match user {
            CoreBound::MaxAbs(e) => n.max_dev <= e,
            CoreBound::Rmse(e) => n.rms_dev <= e,
            CoreBound::Nrmse(t) => n.rms_dev <= t * n.range64,
            CoreBound::MaxRel(r) => n.max_dev <= r * n.range64,
            CoreBound::NrmseLevel(_)
            | CoreBound::MaxRelLevel(_)
            | CoreBound::PwRel(_)
            | CoreBound::Spread(_) => false,
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
        CoreBound::NrmseLevel(_)
        | CoreBound::MaxRelLevel(_)
        | CoreBound::PwRel(_)
        | CoreBound::Spread(_) => return Err(too_fine()),
    };
    if !(left > 0.0 && left.is_finite()) {
        return Err(too_fine());
    }
    Ok(b)
}

/// Checks the decoded float32 values against the caller's float64 values:
/// specials at the same places, the bound on every other element.
pub(crate) fn verify_f64(x: &[f64], back: &[f32], user: &CoreBound) -> PyResult<Metrics> {
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
pub(crate) struct Prepared {
    user: CoreBound,
    /// `:keep-zeros` was asked for (else the core's default: on for a
    /// variable more than half zeros).
    keep_zeros: Option<bool>,
    fshape: Shape,
    values: Values,
    meta: DatasetMeta,
}

/// Reads an array and its description (or the plain description of its
/// shape) and checks that they fit, with the GIL held.
pub(crate) fn prepare(
    array: &Bound<'_, PyAny>,
    bound: &str,
    meta: Option<&Bound<'_, PyDict>>,
    fortran: bool,
) -> PyResult<Prepared> {
    let spec = parse_full(bound)?;
    let (user, keep_zeros) = (spec.bound, spec.keep_zeros.then_some(true));
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
        keep_zeros,
        fshape,
        values,
        meta,
    })
}

/// Codes one prepared variable into a one-variable archive, verified on
/// every element (float64 input against its float64 values). Runs without
/// the GIL.
pub(crate) fn encode_prepared(p: Prepared, chunk_frames: Option<usize>) -> PyResult<Vec<u8>> {
    let Prepared {
        user,
        keep_zeros,
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
        opts.keep_zeros = keep_zeros;
        let (bytes, _) = codec::compress(&field, &meta, &opts, &NoProgress).map_err(to_py_err)?;
        if let Some(x) = source64 {
            drop(field);
            let (back, _) = codec::decompress(&bytes, None).map_err(to_py_err)?;
            verify_f64(&x, &back.values, &user)?;
        }
        Ok(bytes)
    })
}

pub(crate) fn check_chunk_frames(chunk_frames: Option<usize>) -> PyResult<()> {
    if chunk_frames == Some(0) {
        return Err(PyValueError::new_err("chunk_frames must be at least 1"));
    }
    Ok(())
}

/// The archive bytes of `data` (bytes, or a 1-D uint8 numpy array).
pub(crate) enum Data<'py> {
    Bytes(Bound<'py, PyBytes>),
    Array(PyReadonlyArray1<'py, u8>),
}

impl<'py> Data<'py> {
    pub(crate) fn from_py(o: &Bound<'py, PyAny>) -> PyResult<Self> {
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
    pub(crate) fn slice(&self) -> &[u8] {
        match self {
            Data::Bytes(b) => b.as_bytes(),
            Data::Array(a) => a.as_slice().unwrap_or(&[]),
        }
    }
}

/// A decoded field as a numpy array of the variable's N-D shape (float64
/// when the archive was written from float64, else float32).
pub(crate) fn field_to_py<'py>(
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

pub(crate) fn frame_range(frames: Option<(usize, usize)>) -> PyResult<Option<Range<usize>>> {
    match frames {
        None => Ok(None),
        Some((a, b)) if a < b => Ok(Some(a..b)),
        Some((a, b)) => Err(PyValueError::new_err(format!(
            "frames ({a}, {b}): the start must be below the end"
        ))),
    }
}
