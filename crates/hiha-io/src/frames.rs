//! Reading a NetCDF variable a few frames at a time, for streaming
//! compression ([`hiha_core::codec::FrameSource`]): the file is opened
//! without being read into memory ([`open_frames`]), and each call reads
//! the hyperslab of the frames asked for by positioned reads (NetCDF-3:
//! the records or the contiguous block; NetCDF-4: the HDF5 chunks that
//! overlap it). Values, missing elements and packing are exactly those
//! [`crate::read_dataset`] gives for the same frames.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use hiha_core::codec::FrameSource;
use hiha_core::field::{Field, Packing, Shape};
use hiha_core::meta::{CoordData, DType, DatasetMeta};
use netcdf_reader::{NcFile, NcSliceInfo, NcSliceInfoElem};

use crate::error::{IoError, Result};
use crate::grid::Grid;
use crate::netcdf::{describe_data_var, field_packing, select_dataset, unpack, DataVar, Source};

/// The variables of a file, each readable a few frames at a time.
pub struct FramesDataset {
    pub variables: Vec<VariableFrames>,
    /// What could not be kept or was left out, one sentence each (as
    /// [`crate::LoadedDataset::notes`]).
    pub notes: Vec<String>,
}

/// A data variable, its metadata and grid, and its frames on demand.
pub struct VariableFrames {
    pub meta: DatasetMeta,
    pub grid: Grid,
    pub frames: NcFrames,
}

/// Reads frames of one variable of an open NetCDF file.
pub struct NcFrames {
    file: Arc<NcFile>,
    path: String,
    name: String,
    var: DataVar,
    frame_dims: usize,
    /// The error of the last failed read, for [`NcFrames::take_error`].
    failed: Option<IoError>,
}

/// Opens the data variables of a NetCDF file that [`crate::read_dataset`]
/// would read (`vars`, or every gridded one), with the same metadata and
/// notes, but reads no values: each variable's frames are read when asked
/// for. `None` when the file is not NetCDF-3 or NetCDF-4 with its
/// signature at the start (GRIB, Zarr, HDF5 with a user block: read those
/// whole).
pub fn open_frames(path: &Path, vars: Option<&[&str]>) -> Result<Option<FramesDataset>> {
    let Some(mut src) = Source::open_lazy(path)? else {
        return Ok(None);
    };
    let (loaded, notes) = select_dataset(&src, vars, |s, name| {
        let (d, meta, grid) = describe_data_var(s, name)?;
        Ok((d, meta, grid))
    })?;
    let file = Arc::new(src.take_file()?);
    let variables = loaded
        .into_iter()
        .map(|(var, meta, grid)| {
            let frame_dims = meta.var.layout.frame_dims;
            VariableFrames {
                frames: NcFrames {
                    file: Arc::clone(&file),
                    path: path.display().to_string(),
                    name: meta.var.name.clone(),
                    var,
                    frame_dims,
                    failed: None,
                },
                meta,
                grid,
            }
        })
        .collect();
    Ok(Some(FramesDataset { variables, notes }))
}

impl NcFrames {
    /// The error of the last read that failed: [`FrameSource::read_frames`]
    /// returns it as a core error (with its message), this keeps its kind.
    pub fn take_error(&mut self) -> Option<IoError> {
        self.failed.take()
    }

    fn corrupt(&self, reason: String) -> IoError {
        IoError::Corrupt {
            path: self.path.clone(),
            reason,
        }
    }

    /// The values of frames `a..b` that share every leading frame index
    /// but the last (one hyperslab), in the file's type.
    fn read_run(&self, first: usize, count: usize) -> Result<CoordData> {
        let lens = &self.var.dim_lens;
        let fd = self.frame_dims;
        let mut sel = Vec::with_capacity(lens.len());
        if fd > 0 {
            // Unravel the first frame over the leading dims.
            let mut idx = vec![0usize; fd];
            let mut rest = first;
            for d in (0..fd).rev() {
                idx[d] = rest % lens[d].max(1);
                rest /= lens[d].max(1);
            }
            for &i in &idx[..fd - 1] {
                sel.push(NcSliceInfoElem::Index(i as u64));
            }
            let s = idx[fd - 1] as u64;
            sel.push(NcSliceInfoElem::Slice {
                start: s,
                end: s + count as u64,
                step: 1,
            });
        }
        for &n in &lens[fd..] {
            sel.push(NcSliceInfoElem::Slice {
                start: 0,
                end: n as u64,
                step: 1,
            });
        }
        let info = NcSliceInfo { selections: sel };
        let name = self.name.as_str();
        let err = |e: netcdf_reader::Error| {
            self.corrupt(format!("cannot read frames of variable '{name}': {e}"))
        };
        macro_rules! read {
            ($t:ty) => {{
                let a = self
                    .file
                    .read_variable_slice::<$t>(name, &info)
                    .map_err(err)?;
                a.iter().copied().collect::<Vec<$t>>()
            }};
        }
        Ok(match self.var.dtype {
            DType::I8 => CoordData::I8(read!(i8)),
            DType::U8 => CoordData::U8(read!(u8)),
            DType::I16 => CoordData::I16(read!(i16)),
            DType::U16 => CoordData::I32(read!(u16).into_iter().map(i32::from).collect()),
            DType::I32 => CoordData::I32(read!(i32)),
            DType::U32 => CoordData::I64(read!(u32).into_iter().map(i64::from).collect()),
            DType::I64 => CoordData::I64(read!(i64)),
            DType::U64 => CoordData::I64(
                read!(u64)
                    .into_iter()
                    .map(|x| i64::from_ne_bytes(x.to_ne_bytes()))
                    .collect(),
            ),
            DType::F32 => CoordData::F32(read!(f32)),
            DType::F64 => CoordData::F64(read!(f64)),
            DType::Char => {
                return Err(IoError::UnsupportedFormat(format!(
                    "variable '{name}' is not numeric; hiha compresses numeric variables only"
                )))
            }
        })
    }

    fn read(&self, frames: Range<usize>) -> Result<Field> {
        let shape = self.var.shape;
        if frames.start >= frames.end || frames.end > shape.frames {
            return Err(IoError::BadShape(format!(
                "frames {frames:?} are not within the {} frames of variable '{}'",
                shape.frames, self.name
            )));
        }
        let want = Shape {
            frames: frames.len(),
            ..shape
        };
        let n = want.checked_len()?;
        let mut values = Vec::new();
        values
            .try_reserve_exact(n)
            .map_err(|_| IoError::BadShape(format!("{n} values do not fit in memory")))?;
        // Runs of frames along the innermost frame dim.
        let inner = match self.frame_dims {
            0 => shape.frames.max(1),
            fd => self.var.dim_lens[fd - 1].max(1),
        };
        let mut f = frames.start;
        while f < frames.end {
            let run = (inner - f % inner).min(frames.end - f);
            let raw = self.read_run(f, run)?;
            let v = unpack(&raw, self.var.dtype, &self.var.attrs);
            if v.len() != run * shape.frame_len() {
                return Err(self.corrupt(format!(
                    "frames {f}..{} of variable '{}' gave {} values, expected {}",
                    f + run,
                    self.name,
                    v.len(),
                    run * shape.frame_len()
                )));
            }
            values.extend_from_slice(&v);
            f += run;
        }
        let mut field = Field::new(want, values, None)?;
        field.packing = self.packing();
        Ok(field)
    }
}

impl FrameSource for NcFrames {
    fn shape(&self) -> Shape {
        self.var.shape
    }
    fn packing(&self) -> Option<Packing> {
        field_packing(self.var.dtype, &self.var.attrs)
    }
    fn read_frames(&mut self, frames: Range<usize>) -> hiha_core::Result<Field> {
        self.read(frames).map_err(|e| {
            let msg = e.to_string();
            self.failed = Some(e);
            hiha_core::Error::InvalidInput(msg)
        })
    }
}
