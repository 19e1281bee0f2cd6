//! Dataset metadata: everything needed to write the variable back into a file
//! that opens like the original (dims and their order, coordinate variables,
//! variable and global attributes, missing-value convention).
//!
//! This model is format-neutral; `hiha-io` fills it from NetCDF and writes it
//! back, and [`crate::format`] stores it in the `.hiha` header.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A dimension of the source file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dim {
    pub name: String,
    pub len: usize,
    pub unlimited: bool,
}

/// The element type a variable had on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DType {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
    Char,
}

/// An attribute value (NetCDF attribute types).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AttrValue {
    Text(String),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// A named attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attr {
    pub name: String,
    pub value: AttrValue,
}

/// The values of a coordinate (or other auxiliary) variable, kept exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CoordData {
    F64(Vec<f64>),
    F32(Vec<f32>),
    I64(Vec<i64>),
    I32(Vec<i32>),
    I16(Vec<i16>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    Text(Vec<u8>),
}

/// A variable of the source file other than the compressed one (coordinates,
/// bounds, ...), stored losslessly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuxVar {
    pub name: String,
    pub dims: Vec<String>,
    pub dtype: DType,
    pub attrs: Vec<Attr>,
    pub data: CoordData,
}

/// How the compressed variable's dims map onto the 4-D [`crate::field::Shape`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VarLayout {
    /// The variable's dims, in file order.
    pub dims: Vec<String>,
    /// How many leading dims are flattened into frames.
    pub frame_dims: usize,
    /// Name of the level dim, when the variable has one.
    pub level_dim: Option<String>,
    pub lat_dim: String,
    pub lon_dim: String,
}

/// The compressed variable's own description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VarMeta {
    pub name: String,
    pub layout: VarLayout,
    /// The type on disk (i16 for CF-packed files).
    pub dtype: DType,
    /// All attributes as read, including `scale_factor`, `add_offset`,
    /// `_FillValue` and `missing_value`.
    pub attrs: Vec<Attr>,
}

/// Everything about the source dataset except the compressed values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetMeta {
    pub dims: Vec<Dim>,
    pub global_attrs: Vec<Attr>,
    pub aux_vars: Vec<AuxVar>,
    pub var: VarMeta,
}

impl DatasetMeta {
    /// Looks up an auxiliary variable by name.
    pub fn aux(&self, name: &str) -> Option<&AuxVar> {
        self.aux_vars.iter().find(|v| v.name == name)
    }
    /// Looks up a dim by name.
    pub fn dim(&self, name: &str) -> Option<&Dim> {
        self.dims.iter().find(|d| d.name == name)
    }

    /// The metadata of the sub-dataset holding flattened frames `frames` of
    /// `total` (the leading dims of the variable flattened in row-major
    /// order). The range must select whole indices of the first frame dim;
    /// that dim and every auxiliary variable along it are sliced.
    pub fn select_frames(&self, frames: Range<usize>, total: usize) -> Result<DatasetMeta> {
        let fd =
            &self.var.layout.dims[..self.var.layout.frame_dims.min(self.var.layout.dims.len())];
        if frames.start >= frames.end || frames.end > total {
            return Err(Error::InvalidInput(format!(
                "frames {frames:?} are not within 0..{total}"
            )));
        }
        let Some(first) = fd.first() else {
            return Ok(self.clone());
        };
        let outer = self
            .dim(first)
            .ok_or_else(|| {
                Error::Corrupt(format!("frame dim '{first}' is not a dim of the dataset"))
            })?
            .len;
        if outer == 0 || !total.is_multiple_of(outer) {
            return Err(Error::Corrupt(format!(
                "frame dim '{first}' does not divide the {total} frames"
            )));
        }
        let inner = total / outer;
        if !frames.start.is_multiple_of(inner) || !frames.end.is_multiple_of(inner) {
            return Err(Error::InvalidInput(format!(
                "frames {}..{} cut through dim '{}' ({} frames per '{first}' index): choose a range \
                 that is a multiple of {inner}",
                frames.start,
                frames.end,
                fd.get(1).map(String::as_str).unwrap_or(first),
                inner
            )));
        }
        let sel = frames.start / inner..frames.end / inner;
        let mut out = self.clone();
        for d in &mut out.dims {
            if d.name == *first {
                d.len = sel.len();
            }
        }
        for v in &mut out.aux_vars {
            if let Some(axis) = v.dims.iter().position(|d| d == first) {
                let lens: Vec<usize> = v
                    .dims
                    .iter()
                    .map(|d| self.dim(d).map(|x| x.len).unwrap_or(0))
                    .collect();
                v.data = v.data.slice_axis(&lens, axis, sel.clone())?;
            }
        }
        Ok(out)
    }
}

impl DatasetMeta {
    /// The metadata of a field subsampled to every `step`-th point (from
    /// index 0) along its horizontal dims (the variable's lat and lon dims):
    /// those dims shortened to `ceil(len / step)`, every auxiliary variable
    /// that has one of them (the coordinates, bounds) strided the same way.
    pub fn stride_horizontal(&self, step: usize) -> Result<DatasetMeta> {
        if step == 0 {
            return Err(Error::InvalidInput("a stride of 0".into()));
        }
        let horizontal = [
            self.var.layout.lat_dim.clone(),
            self.var.layout.lon_dim.clone(),
        ];
        let mut out = self.clone();
        for name in &horizontal {
            let len = self
                .dim(name)
                .ok_or_else(|| Error::Corrupt(format!("dim '{name}' is not a dim of the dataset")))?
                .len;
            for v in &mut out.aux_vars {
                let lens: Vec<usize> = v
                    .dims
                    .iter()
                    .map(|d| out.dims.iter().find(|x| x.name == *d).map_or(0, |x| x.len))
                    .collect();
                if let Some(axis) = v.dims.iter().position(|d| d == name) {
                    v.data = v.data.stride_axis(&lens, axis, step)?;
                }
            }
            for d in &mut out.dims {
                if d.name == *name {
                    d.len = len.div_ceil(step);
                }
            }
        }
        Ok(out)
    }
}

fn stride_vec<T: Clone>(data: &[T], lens: &[usize], axis: usize, step: usize) -> Result<Vec<T>> {
    let product =
        |l: &[usize]| -> Option<usize> { l.iter().try_fold(1usize, |acc, &x| acc.checked_mul(x)) };
    let bad = || {
        Error::Corrupt(format!(
            "auxiliary variable has {} values, its dims {lens:?} say otherwise",
            data.len()
        ))
    };
    let total = product(lens).ok_or_else(bad)?;
    let axis_len = *lens.get(axis).ok_or_else(bad)?;
    if total != data.len() || step == 0 {
        return Err(bad());
    }
    let inner = product(&lens[axis + 1..]).ok_or_else(bad)?;
    let outer = product(&lens[..axis]).ok_or_else(bad)?;
    let mut out = Vec::with_capacity(outer * axis_len.div_ceil(step) * inner);
    for o in 0..outer {
        let base = o * axis_len * inner;
        for j in (0..axis_len).step_by(step) {
            out.extend_from_slice(&data[base + j * inner..base + (j + 1) * inner]);
        }
    }
    Ok(out)
}

fn slice_vec<T: Clone>(
    data: &[T],
    lens: &[usize],
    axis: usize,
    sel: &Range<usize>,
) -> Result<Vec<T>> {
    let product =
        |l: &[usize]| -> Option<usize> { l.iter().try_fold(1usize, |acc, &x| acc.checked_mul(x)) };
    let bad = || {
        Error::Corrupt(format!(
            "auxiliary variable has {} values, its dims {lens:?} say otherwise",
            data.len()
        ))
    };
    let total = product(lens).ok_or_else(bad)?;
    let axis_len = *lens.get(axis).ok_or_else(bad)?;
    if total != data.len() || sel.start > sel.end || sel.end > axis_len {
        return Err(bad());
    }
    // Every product below divides `total == data.len()`, so none overflows
    // and every slice lies inside `data`.
    let inner = product(&lens[axis + 1..]).ok_or_else(bad)?;
    let outer = product(&lens[..axis]).ok_or_else(bad)?;
    let mut out = Vec::with_capacity(outer * sel.len() * inner);
    for o in 0..outer {
        let base = o * axis_len * inner;
        out.extend_from_slice(&data[base + sel.start * inner..base + sel.end * inner]);
    }
    Ok(out)
}

impl CoordData {
    /// Every `step`-th value (from index 0) along `axis` of an array of dims `lens`.
    pub fn stride_axis(&self, lens: &[usize], axis: usize, step: usize) -> Result<CoordData> {
        Ok(match self {
            CoordData::F64(v) => CoordData::F64(stride_vec(v, lens, axis, step)?),
            CoordData::F32(v) => CoordData::F32(stride_vec(v, lens, axis, step)?),
            CoordData::I64(v) => CoordData::I64(stride_vec(v, lens, axis, step)?),
            CoordData::I32(v) => CoordData::I32(stride_vec(v, lens, axis, step)?),
            CoordData::I16(v) => CoordData::I16(stride_vec(v, lens, axis, step)?),
            CoordData::I8(v) => CoordData::I8(stride_vec(v, lens, axis, step)?),
            CoordData::U8(v) => CoordData::U8(stride_vec(v, lens, axis, step)?),
            CoordData::Text(v) => CoordData::Text(stride_vec(v, lens, axis, step)?),
        })
    }

    /// The values with index range `sel` along `axis` of an array of dims `lens`.
    pub fn slice_axis(&self, lens: &[usize], axis: usize, sel: Range<usize>) -> Result<CoordData> {
        Ok(match self {
            CoordData::F64(v) => CoordData::F64(slice_vec(v, lens, axis, &sel)?),
            CoordData::F32(v) => CoordData::F32(slice_vec(v, lens, axis, &sel)?),
            CoordData::I64(v) => CoordData::I64(slice_vec(v, lens, axis, &sel)?),
            CoordData::I32(v) => CoordData::I32(slice_vec(v, lens, axis, &sel)?),
            CoordData::I16(v) => CoordData::I16(slice_vec(v, lens, axis, &sel)?),
            CoordData::I8(v) => CoordData::I8(slice_vec(v, lens, axis, &sel)?),
            CoordData::U8(v) => CoordData::U8(slice_vec(v, lens, axis, &sel)?),
            CoordData::Text(v) => CoordData::Text(slice_vec(v, lens, axis, &sel)?),
        })
    }
}

impl Attr {
    pub fn new(name: impl Into<String>, value: AttrValue) -> Self {
        Self {
            name: name.into(),
            value,
        }
    }
}

impl AttrValue {
    /// The first numeric element as f64, if the attribute is numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AttrValue::Text(_) => None,
            AttrValue::I8(v) => v.first().map(|&x| x as f64),
            AttrValue::U8(v) => v.first().map(|&x| x as f64),
            AttrValue::I16(v) => v.first().map(|&x| x as f64),
            AttrValue::U16(v) => v.first().map(|&x| x as f64),
            AttrValue::I32(v) => v.first().map(|&x| x as f64),
            AttrValue::U32(v) => v.first().map(|&x| x as f64),
            AttrValue::I64(v) => v.first().map(|&x| x as f64),
            AttrValue::U64(v) => v.first().map(|&x| x as f64),
            AttrValue::F32(v) => v.first().map(|&x| x as f64),
            AttrValue::F64(v) => v.first().copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> DatasetMeta {
        let dims = vec![
            Dim {
                name: "number".into(),
                len: 2,
                unlimited: false,
            },
            Dim {
                name: "time".into(),
                len: 3,
                unlimited: true,
            },
            Dim {
                name: "lat".into(),
                len: 1,
                unlimited: false,
            },
            Dim {
                name: "lon".into(),
                len: 1,
                unlimited: false,
            },
        ];
        DatasetMeta {
            dims,
            global_attrs: vec![],
            aux_vars: vec![
                AuxVar {
                    name: "number".into(),
                    dims: vec!["number".into()],
                    dtype: DType::I32,
                    attrs: vec![],
                    data: CoordData::I32(vec![0, 1]),
                },
                AuxVar {
                    name: "valid".into(),
                    dims: vec!["time".into(), "number".into()],
                    dtype: DType::F64,
                    attrs: vec![],
                    data: CoordData::F64(vec![0., 1., 2., 3., 4., 5.]),
                },
            ],
            var: VarMeta {
                name: "t".into(),
                layout: VarLayout {
                    dims: vec!["number".into(), "time".into(), "lat".into(), "lon".into()],
                    frame_dims: 2,
                    level_dim: None,
                    lat_dim: "lat".into(),
                    lon_dim: "lon".into(),
                },
                dtype: DType::F32,
                attrs: vec![],
            },
        }
    }

    #[test]
    fn select_frames_slices_the_first_frame_dim_and_its_coordinates() {
        let m = meta();
        let s = m.select_frames(3..6, 6).unwrap();
        assert_eq!(s.dim("number").unwrap().len, 1);
        assert_eq!(s.dim("time").unwrap().len, 3);
        assert_eq!(s.aux("number").unwrap().data, CoordData::I32(vec![1]));
        assert_eq!(
            s.aux("valid").unwrap().data,
            CoordData::F64(vec![1., 3., 5.])
        );
        assert!(m.select_frames(1..4, 6).is_err());
        assert!(m.select_frames(0..7, 6).is_err());
    }

    #[test]
    fn stride_horizontal_keeps_every_step_th_coordinate_from_zero() {
        let mut m = meta();
        m.dims[2].len = 5;
        m.dims[3].len = 4;
        m.aux_vars.push(AuxVar {
            name: "lat".into(),
            dims: vec!["lat".into()],
            dtype: DType::F64,
            attrs: vec![],
            data: CoordData::F64(vec![50., 49., 48., 47., 46.]),
        });
        m.aux_vars.push(AuxVar {
            name: "area".into(),
            dims: vec!["lat".into(), "lon".into()],
            dtype: DType::I32,
            attrs: vec![],
            data: CoordData::I32((0..20).collect()),
        });
        let s = m.stride_horizontal(2).unwrap();
        assert_eq!(s.dim("lat").unwrap().len, 3);
        assert_eq!(s.dim("lon").unwrap().len, 2);
        assert_eq!(s.dim("time").unwrap().len, 3);
        assert_eq!(
            s.aux("lat").unwrap().data,
            CoordData::F64(vec![50., 48., 46.])
        );
        assert_eq!(
            s.aux("area").unwrap().data,
            CoordData::I32(vec![0, 2, 8, 10, 16, 18])
        );
        assert_eq!(s.aux("valid").unwrap().data, m.aux("valid").unwrap().data);
        assert!(m.stride_horizontal(0).is_err());
    }
}
