//! Dataset metadata (dims, coordinates, attributes, the variables'
//! layouts) between the core's types and the Python dicts `hiha.xarray`
//! builds and `hiha.header` returns.

use hiha_core::meta::{
    Attr, AttrValue, AuxVar, CoordData, DType, DatasetMeta, Dim, VarLayout, VarMeta,
};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

// ---------------------------------------------------------------- dtypes

pub(crate) fn dtype_name(d: DType) -> &'static str {
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

pub(crate) fn parse_dtype(s: &str) -> PyResult<DType> {
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

pub(crate) fn attr_value_to_py<'py>(py: Python<'py>, v: &AttrValue) -> PyResult<Bound<'py, PyAny>> {
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

pub(crate) fn vec1<T: numpy::Element + Copy>(o: &Bound<'_, PyAny>) -> Option<Vec<T>> {
    let a = o.extract::<PyReadonlyArray1<'_, T>>().ok()?;
    Some(match a.as_slice() {
        Ok(s) => s.to_vec(),
        Err(_) => a.as_array().iter().copied().collect(),
    })
}

pub(crate) fn attr_value_from_py(o: &Bound<'_, PyAny>) -> PyResult<AttrValue> {
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

pub(crate) fn coord_to_py<'py>(py: Python<'py>, d: &CoordData) -> Bound<'py, PyAny> {
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

pub(crate) fn coord_from_py(o: &Bound<'_, PyAny>) -> PyResult<CoordData> {
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

pub(crate) fn attrs_to_py<'py>(py: Python<'py>, attrs: &[Attr]) -> PyResult<Bound<'py, PyList>> {
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

pub(crate) fn attrs_from_py(o: &Bound<'_, PyAny>) -> PyResult<Vec<Attr>> {
    let mut out = Vec::new();
    for item in o.try_iter()? {
        let (name, value): (String, Bound<'_, PyAny>) = item?.extract()?;
        out.push(Attr::new(name, attr_value_from_py(&value)?));
    }
    Ok(out)
}

pub(crate) fn get<'py>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<Bound<'py, PyAny>> {
    d.get_item(key)?
        .ok_or_else(|| PyValueError::new_err(format!("metadata lacks the key '{key}'")))
}

/// Builds a [`DatasetMeta`] from the dict that `hiha.xarray` assembles
/// (the same layout [`header`] returns).
pub(crate) fn meta_from_py(d: &Bound<'_, PyDict>) -> PyResult<DatasetMeta> {
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

pub(crate) fn meta_to_py<'py>(
    py: Python<'py>,
    m: &DatasetMeta,
    out: &Bound<'py, PyDict>,
) -> PyResult<()> {
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
pub(crate) fn var_to_py<'py>(py: Python<'py>, v: &VarMeta) -> PyResult<Bound<'py, PyDict>> {
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
