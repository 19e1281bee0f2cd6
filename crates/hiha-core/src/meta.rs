//! Dataset metadata: everything needed to write the variable back into a file
//! that opens like the original (dims and their order, coordinate variables,
//! variable and global attributes, missing-value convention).
//!
//! This model is format-neutral; `hiha-io` fills it from NetCDF and writes it
//! back, and [`crate::format`] stores it in the `.hiha` header.

use serde::{Deserialize, Serialize};

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
}

impl Attr {
    pub fn new(name: impl Into<String>, value: AttrValue) -> Self {
        Self { name: name.into(), value }
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
