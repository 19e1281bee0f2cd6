//! NetCDF-4/HDF5 output through the pure-Rust `netcdf-writer` crate (same
//! family as `netcdf-reader`; deflate and shuffle through `hdf5-writer` and
//! `flate2`'s pure-Rust back end, no C library).
//!
//! Every data variable is chunked by whole 2-D fields (`… × lat × lon`,
//! rows split when a field exceeds `CHUNK_BYTES`, small fields stacked
//! up to `CHUNK_TARGET`; see `write::field_chunks`) and compressed with shuffle + zlib at
//! [`DEFLATE_LEVEL`]; auxiliary variables of at least [`AUX_DEFLATE_BYTES`]
//! are compressed too (with the crate's default chunking), smaller ones are
//! stored contiguously. Coordinate variables become HDF5 dimension scales,
//! dims without one get netCDF's hidden scales, as netCDF-C writes them.

use hiha_core::meta::{Attr, AttrValue, CoordData, DType};
use netcdf_writer::{
    DimensionId, NcAttrValue, NcFileBuilder, NcWriteFormat, NcWriteOptions, VariableId,
};

use crate::prepared::{field_chunks, PreparedDataset, VarValues};

/// zlib level of every compressed variable. Level 4 is within 1% of level
/// 9's size on decompressed hiha output at half its time (docs/ALGORITHM.md,
/// "Output that is not larger than the input").
pub(crate) const DEFLATE_LEVEL: u8 = 4;

/// Auxiliary variables of at least this many bytes are compressed.
pub(crate) const AUX_DEFLATE_BYTES: usize = 16 << 10;

/// Attributes netCDF-C and HDF5 dimension scales use for themselves: never
/// copied from the source (the writer makes its own).
const RESERVED_ATTRS: [&str; 10] = [
    "_NCProperties",
    "_Netcdf4Dimid",
    "_Netcdf4Coordinates",
    "_nc3_strict",
    "_IsNetcdf4",
    "_SuperblockVersion",
    "CLASS",
    "NAME",
    "DIMENSION_LIST",
    "REFERENCE_LIST",
];

type Res<T> = std::result::Result<T, String>;

fn err(e: netcdf_writer::Error) -> String {
    format!("NetCDF-4 encoder: {e}")
}

fn attr_value(v: &AttrValue) -> NcAttrValue {
    match v {
        AttrValue::Text(s) => NcAttrValue::Chars(s.clone()),
        AttrValue::I8(v) => NcAttrValue::Bytes(v.clone()),
        AttrValue::U8(v) => NcAttrValue::UBytes(v.clone()),
        AttrValue::I16(v) => NcAttrValue::Shorts(v.clone()),
        AttrValue::U16(v) => NcAttrValue::UShorts(v.clone()),
        AttrValue::I32(v) => NcAttrValue::Ints(v.clone()),
        AttrValue::U32(v) => NcAttrValue::UInts(v.clone()),
        AttrValue::I64(v) => NcAttrValue::Int64s(v.clone()),
        AttrValue::U64(v) => NcAttrValue::UInt64s(v.clone()),
        AttrValue::F32(v) => NcAttrValue::Floats(v.clone()),
        AttrValue::F64(v) => NcAttrValue::Doubles(v.clone()),
    }
}

/// Adds a variable of type `dtype` holding `data` ([`CoordData`]'s
/// convention: u16 in `I32`, u32 and u64 in `I64`).
fn add_data(
    b: &mut NcFileBuilder,
    name: &str,
    dims: &[DimensionId],
    dtype: DType,
    data: &CoordData,
) -> Res<VariableId> {
    let mismatch = || format!("variable '{name}': data does not match its type {dtype:?}");
    macro_rules! put {
        ($t:ty, $vals:expr) => {{
            let id = b.add_variable::<$t>(name, dims).map_err(err)?;
            b.write_variable::<$t>(id, &$vals).map_err(err)?;
            id
        }};
    }
    Ok(match (dtype, data) {
        (DType::F32, CoordData::F32(v)) => put!(f32, v),
        (DType::F64, CoordData::F64(v)) => put!(f64, v),
        (DType::I64, CoordData::I64(v)) => put!(i64, v),
        (DType::U64, CoordData::I64(v)) => put!(
            u64,
            v.iter()
                .map(|&x| u64::from_ne_bytes(x.to_ne_bytes()))
                .collect::<Vec<u64>>()
        ),
        (DType::U32, CoordData::I64(v)) => put!(
            u32,
            v.iter()
                .map(|&x| u32::try_from(x).map_err(|_| mismatch()))
                .collect::<Res<Vec<u32>>>()?
        ),
        (DType::I32, CoordData::I32(v)) => put!(i32, v),
        (DType::U16, CoordData::I32(v)) => put!(
            u16,
            v.iter()
                .map(|&x| u16::try_from(x).map_err(|_| mismatch()))
                .collect::<Res<Vec<u16>>>()?
        ),
        (DType::I16, CoordData::I16(v)) => put!(i16, v),
        (DType::I8, CoordData::I8(v)) => put!(i8, v),
        (DType::U8, CoordData::U8(v)) => put!(u8, v),
        (DType::Char, CoordData::Text(v)) => {
            let id = b.add_char_variable(name, dims).map_err(err)?;
            b.write_char_variable(id, v).map_err(err)?;
            id
        }
        _ => return Err(mismatch()),
    })
}

/// Sets a variable's fill value from a `_FillValue` attribute of the
/// variable's own type (netCDF-4 keeps it in the HDF5 dataset too). Returns
/// false when the attribute has another type: it is then copied as is.
fn set_fill(b: &mut NcFileBuilder, id: VariableId, dtype: DType, v: &AttrValue) -> Res<bool> {
    macro_rules! fill {
        ($x:expr) => {{
            b.set_variable_fill_value(id, $x).map_err(err)?;
            true
        }};
    }
    Ok(match (dtype, v) {
        (DType::F32, AttrValue::F32(x)) if x.len() == 1 => fill!(x[0]),
        (DType::F64, AttrValue::F64(x)) if x.len() == 1 => fill!(x[0]),
        (DType::I8, AttrValue::I8(x)) if x.len() == 1 => fill!(x[0]),
        (DType::U8, AttrValue::U8(x)) if x.len() == 1 => fill!(x[0]),
        (DType::I16, AttrValue::I16(x)) if x.len() == 1 => fill!(x[0]),
        (DType::U16, AttrValue::U16(x)) if x.len() == 1 => fill!(x[0]),
        (DType::I32, AttrValue::I32(x)) if x.len() == 1 => fill!(x[0]),
        (DType::U32, AttrValue::U32(x)) if x.len() == 1 => fill!(x[0]),
        (DType::I64, AttrValue::I64(x)) if x.len() == 1 => fill!(x[0]),
        (DType::U64, AttrValue::U64(x)) if x.len() == 1 => fill!(x[0]),
        _ => false,
    })
}

fn add_attrs(b: &mut NcFileBuilder, id: VariableId, dtype: DType, attrs: &[Attr]) -> Res<()> {
    for a in attrs {
        if RESERVED_ATTRS.contains(&a.name.as_str()) {
            continue;
        }
        if a.name == "_FillValue" && set_fill(b, id, dtype, &a.value)? {
            continue;
        }
        b.add_variable_attribute(id, a.name.clone(), attr_value(&a.value))
            .map_err(err)?;
    }
    Ok(())
}

fn dtype_size(t: DType) -> usize {
    match t {
        DType::I8 | DType::U8 | DType::Char => 1,
        DType::I16 | DType::U16 => 2,
        DType::I32 | DType::U32 | DType::F32 => 4,
        DType::I64 | DType::U64 | DType::F64 => 8,
    }
}

/// Encodes a prepared dataset as a NetCDF-4 file.
pub(crate) fn encode(data: &PreparedDataset) -> Res<Vec<u8>> {
    let meta = data.meta;
    let mut b = NcFileBuilder::new();
    let mut dims = Vec::with_capacity(meta.dims.len());
    for d in &meta.dims {
        let id = if d.unlimited {
            b.add_unlimited_dimension(d.name.clone())
        } else {
            b.add_dimension(d.name.clone(), d.len as u64)
        }
        .map_err(err)?;
        dims.push(id);
    }
    let ids_of = |names: &[String]| -> Res<Vec<DimensionId>> {
        names
            .iter()
            .map(|n| {
                meta.dims
                    .iter()
                    .position(|d| d.name == *n)
                    .map(|i| dims[i])
                    .ok_or_else(|| format!("dim '{n}' is not defined"))
            })
            .collect()
    };
    for a in &data.global_attrs {
        if RESERVED_ATTRS.contains(&a.name.as_str()) {
            continue;
        }
        b.add_attribute(a.name.clone(), attr_value(&a.value))
            .map_err(err)?;
    }
    for a in &meta.aux_vars {
        let vd = ids_of(&a.dims)?;
        let id = add_data(&mut b, &a.name, &vd, a.dtype, &a.data)?;
        add_attrs(&mut b, id, a.dtype, &a.attrs)?;
        let n = a
            .dims
            .iter()
            .filter_map(|d| meta.dim(d).map(|x| x.len))
            .try_fold(1usize, |acc, l| acc.checked_mul(l))
            .unwrap_or(usize::MAX);
        if !vd.is_empty() && n.saturating_mul(dtype_size(a.dtype)) >= AUX_DEFLATE_BYTES {
            b.set_variable_deflate(id, Some(DEFLATE_LEVEL), true)
                .map_err(err)?;
        }
    }
    for v in &data.vars {
        let vd: Vec<DimensionId> = v.dimids.iter().map(|&i| dims[i]).collect();
        let lens: Vec<usize> = v.dimids.iter().map(|&i| meta.dims[i].len).collect();
        let dtype = v.dtype();
        let id = match &v.data {
            VarValues::F32(x) => {
                let id = b.add_variable::<f32>(v.name, &vd).map_err(err)?;
                b.write_variable::<f32>(id, x).map_err(err)?;
                id
            }
            VarValues::Packed { data, .. } => add_data(&mut b, v.name, &vd, dtype, data)?,
        };
        b.set_variable_chunking(id, field_chunks(&lens, dtype_size(dtype)))
            .map_err(err)?;
        b.set_variable_deflate(id, Some(DEFLATE_LEVEL), true)
            .map_err(err)?;
        add_attrs(&mut b, id, dtype, &v.attrs)?;
    }
    let (_, bytes) = b
        .to_vec(NcWriteOptions {
            format: NcWriteFormat::Nc4,
        })
        .map_err(err)?;
    Ok(bytes)
}
