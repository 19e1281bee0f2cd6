//! What the writers share: a dataset prepared for writing (each data
//! variable's values as float32 or packed integers, its attributes and
//! encoding) and the chunk shape of data variables. The NetCDF-4 and Zarr
//! encoders read it; `write` prepares it.

use hiha_core::meta::{Attr, CoordData, DType, DatasetMeta};

/// How a data variable was written.
#[derive(Debug, Clone, PartialEq)]
pub enum VarEncoding {
    /// Packed in the source's integer type, with the source's
    /// `add_offset` and fill value, and `scale_factor` the source's times
    /// `multiple` (a power of two).
    Packed { dtype: DType, multiple: u32 },
    /// float32. `reason` says why a variable offered for re-packing was not
    /// re-packed.
    Float32 { reason: Option<String> },
}

/// A dataset ready to encode: the shared metadata, the global attributes
/// as written, and the data variables.
pub(crate) struct PreparedDataset<'a> {
    pub meta: &'a DatasetMeta,
    pub global_attrs: Vec<Attr>,
    pub vars: Vec<PreparedVar<'a>>,
}

/// The values of a data variable as written.
pub(crate) enum VarValues {
    /// float32, missing elements replaced by the fill value.
    F32(Vec<f32>),
    /// The source's integer type, in [`CoordData`]'s convention for it
    /// (u16 in `I32`, u32 in `I64`); missing elements hold the raw value of
    /// the source's `_FillValue` (else `missing_value`).
    Packed { dtype: DType, data: CoordData },
}

/// A data variable ready to write: its dim ids, attributes and values.
pub(crate) struct PreparedVar<'a> {
    pub name: &'a str,
    pub dimids: Vec<usize>,
    pub attrs: Vec<Attr>,
    pub data: VarValues,
    pub encoding: VarEncoding,
}

impl PreparedVar<'_> {
    /// The type on disk.
    pub fn dtype(&self) -> DType {
        match &self.data {
            VarValues::F32(_) => DType::F32,
            VarValues::Packed { dtype, .. } => *dtype,
        }
    }
}

/// The largest chunk of a data variable, in bytes (HDF5 chunk caches in
/// readers are small; 4 MiB is netCDF-C's default cache size).
pub(crate) const CHUNK_BYTES: usize = 4 << 20;

/// Chunks of small fields are stacked up to this many bytes.
pub(crate) const CHUNK_TARGET: usize = 1 << 20;

/// The chunk shape of a data variable of dim lengths `lens` (the last two
/// are lat, lon): whole 2-D fields, rows (then columns) split to stay
/// within [`CHUNK_BYTES`], and small fields stacked along the inner
/// leading dims (level, then time) up to [`CHUNK_TARGET`] (zlib works on
/// each chunk alone: 3 kB fields compress 12% worse one by one than 32 at
/// a time).
pub(crate) fn field_chunks(lens: &[usize], elem: usize) -> Vec<u64> {
    let nd = lens.len();
    if nd < 2 {
        return lens.iter().map(|&l| l.max(1) as u64).collect();
    }
    let elem = elem.max(1);
    let mut c = vec![1usize; nd];
    let (lat, lon) = (lens[nd - 2].max(1), lens[nd - 1].max(1));
    let lon_c = if lon.saturating_mul(elem) > CHUNK_BYTES {
        (CHUNK_BYTES / elem).max(1)
    } else {
        lon
    };
    let lat_c = (CHUNK_BYTES / lon_c.saturating_mul(elem)).clamp(1, lat);
    c[nd - 2] = lat_c;
    c[nd - 1] = lon_c;
    if lat_c == lat && lon_c == lon {
        let mut bytes = lat.saturating_mul(lon).saturating_mul(elem);
        for i in (0..nd - 2).rev() {
            let n = lens[i].max(1);
            let fit = (CHUNK_TARGET / bytes.max(1)).clamp(1, n);
            c[i] = fit;
            if fit < n {
                break;
            }
            bytes = bytes.saturating_mul(n);
        }
    }
    c.into_iter().map(|x| x as u64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_fields_within_the_limit() {
        // Small fields are stacked: levels first, then times.
        assert_eq!(field_chunks(&[4, 2, 73, 144], 2), vec![4, 2, 73, 144]);
        assert_eq!(field_chunks(&[744, 33, 49], 2), vec![324, 33, 49]);
        assert_eq!(field_chunks(&[10, 37, 181, 360], 2), vec![1, 8, 181, 360]);
        // 0.25° global float32 (4.15 MB) is one chunk; 0.125° (16.6 MB)
        // is split by rows.
        assert_eq!(field_chunks(&[10, 721, 1440], 4), vec![1, 721, 1440]);
        let c = field_chunks(&[10, 1441, 2880], 4);
        assert_eq!(c[0], 1);
        assert_eq!(c[2], 2880);
        assert!(c[1] < 1441 && c[1] as usize * 2880 * 4 <= CHUNK_BYTES);
        // A row longer than a chunk.
        let c = field_chunks(&[3, 2_000_000], 4);
        assert_eq!(c[0], 1);
        assert!(c[1] as usize * 4 <= CHUNK_BYTES);
    }
}
