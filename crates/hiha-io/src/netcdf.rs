//! Reading NetCDF files (classic CDF-1/2/5 and NetCDF-4/HDF5) into hiha's
//! field model.

use std::path::Path;

use hiha_core::field::{is_missing_marker, Field, Packing, Shape, MISSING};
use hiha_core::meta::{
    Attr, AttrValue, AuxVar, CoordData, DType, DatasetMeta, Dim, VarLayout, VarMeta,
};
use netcdf_reader::{NcAttrValue, NcFile, NcFormat, NcType};

use crate::cf::{self, AxisKind};
use crate::error::{IoError, Result};
use crate::grid::Grid;

/// One variable as listed by [`list_variables`].
#[derive(Debug, Clone, PartialEq)]
pub struct VarSummary {
    pub name: String,
    pub dims: Vec<String>,
    pub shape: Vec<usize>,
    /// The type on disk; `None` for types hiha cannot represent (NetCDF-4
    /// strings, compound, enum, opaque, variable-length).
    pub dtype: Option<DType>,
    pub long_name: Option<String>,
    /// True for a data variable [`read_variable`] can pick (not a coordinate
    /// or bounds variable, at least two dims).
    pub is_data: bool,
}

/// A variable read from a file: the field, everything needed to write it
/// back, and its horizontal grid.
#[derive(Debug, Clone)]
pub struct LoadedVariable {
    pub field: Field,
    pub meta: DatasetMeta,
    pub grid: Grid,
    /// What of the file could not be kept (a NetCDF-4 string variable, a
    /// string-array attribute, ...), one sentence each, for the user.
    pub notes: Vec<String>,
}

/// Several data variables of one file, read by [`read_dataset`]. Every
/// variable's `meta` holds the same dims, global attributes and auxiliary
/// variables (everything of the file that is not a chosen data variable).
#[derive(Debug, Clone)]
pub struct LoadedDataset {
    pub variables: Vec<LoadedVariable>,
    /// What could not be kept or was left out, one sentence each.
    pub notes: Vec<String>,
}

/// A variable of an open file, with hiha's types.
pub(crate) struct SrcVar {
    pub name: String,
    pub dims: Vec<String>,
    pub shape: Vec<usize>,
    pub dtype: Option<DType>,
    /// A NetCDF-4 variable-length string variable (kept as a char array).
    pub is_string: bool,
    pub attrs: Vec<Attr>,
}

/// Where a source's values come from.
pub(crate) enum Backend {
    /// A NetCDF file, read variable by variable.
    Nc(NcFile),
    /// Values read already (a Zarr store): one per variable of
    /// [`Source::vars`], in the same order.
    Mem(Vec<CoordData>),
}

/// An open file with its header translated into hiha's types.
pub(crate) struct Source {
    pub path: String,
    pub backend: Backend,
    /// Size of the file in bytes (a bound on classic variable sizes).
    pub file_len: usize,
    pub dims: Vec<Dim>,
    pub global_attrs: Vec<Attr>,
    pub vars: Vec<SrcVar>,
    /// Attributes that could not be kept.
    pub notes: Vec<String>,
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

fn nc_dtype(t: &NcType) -> Option<DType> {
    Some(match t {
        NcType::Byte => DType::I8,
        NcType::Char => DType::Char,
        NcType::Short => DType::I16,
        NcType::Int => DType::I32,
        NcType::Float => DType::F32,
        NcType::Double => DType::F64,
        NcType::UByte => DType::U8,
        NcType::UShort => DType::U16,
        NcType::UInt => DType::U32,
        NcType::Int64 => DType::I64,
        NcType::UInt64 => DType::U64,
        _ => return None,
    })
}

fn convert_attr(owner: &str, name: &str, v: &NcAttrValue) -> Result<AttrValue> {
    Ok(match v {
        NcAttrValue::Bytes(v) => AttrValue::I8(v.clone()),
        NcAttrValue::Chars(s) => AttrValue::Text(s.clone()),
        NcAttrValue::Shorts(v) => AttrValue::I16(v.clone()),
        NcAttrValue::Ints(v) => AttrValue::I32(v.clone()),
        NcAttrValue::Floats(v) => AttrValue::F32(v.clone()),
        NcAttrValue::Doubles(v) => AttrValue::F64(v.clone()),
        NcAttrValue::UBytes(v) => AttrValue::U8(v.clone()),
        NcAttrValue::UShorts(v) => AttrValue::U16(v.clone()),
        NcAttrValue::UInts(v) => AttrValue::U32(v.clone()),
        NcAttrValue::Int64s(v) => AttrValue::I64(v.clone()),
        NcAttrValue::UInt64s(v) => AttrValue::U64(v.clone()),
        NcAttrValue::Strings(v) if v.len() <= 1 => {
            AttrValue::Text(v.first().cloned().unwrap_or_default())
        }
        _ => {
            return Err(IoError::UnsupportedFormat(format!(
                "attribute '{name}' of {owner} has a NetCDF-4 type (string array or user-defined) \
                 that cannot be kept in a NetCDF-3 file"
            )))
        }
    })
}

/// The attributes hiha can keep; each one it cannot (a NetCDF-4 string
/// array or a user-defined type) is left out with a note.
fn convert_attrs(
    owner: &str,
    attrs: &[netcdf_reader::NcAttribute],
    notes: &mut Vec<String>,
) -> Vec<Attr> {
    attrs
        .iter()
        .filter_map(|a| match convert_attr(owner, &a.name, &a.value) {
            Ok(v) => Some(Attr::new(a.name.clone(), v)),
            Err(e) => {
                notes.push(format!("{e}: not kept"));
                None
            }
        })
        .collect()
}

fn to_usize(path: &str, what: &str, n: u64) -> Result<usize> {
    usize::try_from(n).map_err(|_| IoError::Corrupt {
        path: path.to_string(),
        reason: format!("{what} has size {n}, too large for this machine"),
    })
}

impl Source {
    pub fn open(path: &Path) -> Result<Source> {
        let p = display(path);
        let bytes = std::fs::read(path).map_err(|e| IoError::Read {
            path: p.clone(),
            reason: e.to_string(),
            kind: e.kind(),
        })?;
        if bytes.len() >= 4 && &bytes[..3] != b"CDF" && &bytes[1..4] != b"HDF" {
            // Let the library decide for user-block HDF5; give a plain message otherwise.
            if !bytes.windows(4).take(1 << 16).any(|w| w == b"\x89HDF") {
                // A GRIB message in the first kilobyte (the GRIB reader is
                // not called from here: it depends on this module).
                let grib = bytes.windows(4).take(1024).any(|w| w == b"GRIB");
                let reason = if grib {
                    "a GRIB file, which the NetCDF reader does not read: read it with \
                     `hiha_io::read_any` or `hiha_io::grib::read_grib` (as `hiha compress` does)"
                } else {
                    "not a NetCDF file (no CDF or HDF5 signature)"
                };
                return Err(IoError::Open {
                    path: p,
                    reason: reason.to_string(),
                });
            }
        }
        let hdf5 = bytes.get(..8) == Some(b"\x89HDF\r\n\x1a\n".as_slice())
            || bytes
                .windows(8)
                .take(1 << 16)
                .any(|w| w == b"\x89HDF\r\n\x1a\n");
        if hdf5 && !cfg!(feature = "netcdf4") {
            return Err(IoError::UnsupportedFormat(format!(
                "'{p}' is a NetCDF-4/HDF5 file: NetCDF-4 not supported in this build (hiha-io was \
                 built without its `netcdf4` feature); convert it with `nccopy -k 64-bit-offset` \
                 or rebuild with the feature"
            )));
        }
        let file_len = bytes.len();
        #[cfg(feature = "netcdf4")]
        let opened = NcFile::from_vec(bytes);
        #[cfg(not(feature = "netcdf4"))]
        let opened = NcFile::from_bytes(&bytes);
        let file = opened.map_err(|e| IoError::Open {
            path: p.clone(),
            reason: format!("not a readable NetCDF file: {e}"),
        })?;
        Self::from_file(p, file, file_len)
    }

    /// Opens a NetCDF file without reading it into memory: its header now,
    /// values when asked for, through positioned reads of the file (so that
    /// a variable can be read a few frames at a time). Only files that
    /// start with a NetCDF-3 or an HDF5 signature; `None` for others (which
    /// [`Source::open`] reads whole, to find a signature further in).
    #[cfg(feature = "netcdf4")]
    pub fn open_lazy(path: &Path) -> Result<Option<Source>> {
        use std::io::Read;
        let p = display(path);
        let read_err = |e: std::io::Error| IoError::Read {
            path: p.clone(),
            reason: e.to_string(),
            kind: e.kind(),
        };
        let mut head = [0u8; 8];
        let mut f = std::fs::File::open(path).map_err(read_err)?;
        let mut got = 0;
        while got < head.len() {
            match f.read(&mut head[got..]).map_err(read_err)? {
                0 => break,
                k => got += k,
            }
        }
        let classic = got >= 4 && &head[..3] == b"CDF";
        let hdf5 = got == 8 && head == *b"\x89HDF\r\n\x1a\n";
        if !(classic || hdf5) {
            return Ok(None);
        }
        let storage = netcdf_reader::FileStorage::open(path).map_err(|e| IoError::Open {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        let file_len =
            usize::try_from(netcdf_reader::Storage::len(&storage)).map_err(|_| IoError::Open {
                path: p.clone(),
                reason: "file too large for this machine".into(),
            })?;
        let file =
            NcFile::from_storage(std::sync::Arc::new(storage)).map_err(|e| IoError::Open {
                path: p.clone(),
                reason: format!("not a readable NetCDF file: {e}"),
            })?;
        Self::from_file(p, file, file_len).map(Some)
    }

    /// The source of an opened file.
    fn from_file(p: String, file: NcFile, file_len: usize) -> Result<Source> {
        let root = file.root_group().map_err(|e| IoError::Open {
            path: p.clone(),
            reason: format!("cannot read the root group: {e}"),
        })?;
        let dims = root
            .dimensions
            .iter()
            .map(|d| {
                Ok(Dim {
                    name: d.name.clone(),
                    len: to_usize(&p, &format!("dim '{}'", d.name), d.size)?,
                    unlimited: d.is_unlimited,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut notes = Vec::new();
        let global_attrs = convert_attrs("the file", &root.attributes, &mut notes);
        let vars = root
            .variables
            .iter()
            .map(|v| {
                Ok(SrcVar {
                    name: v.name.clone(),
                    dims: v.dimensions.iter().map(|d| d.name.clone()).collect(),
                    shape: v
                        .dimensions
                        .iter()
                        .map(|d| to_usize(&p, &format!("dim '{}'", d.name), d.size))
                        .collect::<Result<_>>()?,
                    dtype: nc_dtype(&v.dtype),
                    is_string: matches!(v.dtype, NcType::String),
                    attrs: convert_attrs(
                        &format!("variable '{}'", v.name),
                        &v.attributes,
                        &mut notes,
                    ),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Source {
            path: p,
            backend: Backend::Nc(file),
            file_len,
            dims,
            global_attrs,
            vars,
            notes,
        })
    }

    pub fn var(&self, name: &str) -> Option<&SrcVar> {
        self.vars.iter().find(|v| v.name == name)
    }

    /// The 1-D coordinate variable of a dim (same name, one dim).
    pub fn coord_var(&self, dim: &str) -> Option<&SrcVar> {
        self.var(dim)
            .filter(|v| v.dims.len() == 1 && v.dims[0] == dim)
    }

    pub fn axis_kind(&self, dim: &str) -> AxisKind {
        cf::axis_kind(dim, self.coord_var(dim).map(|v| v.attrs.as_slice()))
    }

    /// Names referenced by other variables' `bounds`, `coordinates`, ... attributes.
    fn referenced(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for v in &self.vars {
            for key in [
                "bounds",
                "climatology",
                "coordinates",
                "grid_mapping",
                "ancillary_variables",
            ] {
                if let Some(s) = cf::attr_text(&v.attrs, key) {
                    out.extend(s.split_whitespace().filter(|w| !w.ends_with(':')));
                }
            }
        }
        out
    }

    /// Variables that [`read_variable`] may pick when no name is given.
    pub fn data_candidates(&self) -> Vec<String> {
        let refs = self.referenced();
        self.vars
            .iter()
            .filter(|v| {
                v.dims.len() >= 2
                    && !matches!(v.dtype, None | Some(DType::Char))
                    && !refs.contains(&v.name.as_str())
                    // 2-D latitude/longitude of a curvilinear grid
                    && !matches!(cf::axis_kind(&v.name, Some(&v.attrs)), AxisKind::Lat | AxisKind::Lon)
            })
            .map(|v| v.name.clone())
            .collect()
    }

    fn corrupt(&self, reason: String) -> IoError {
        IoError::Corrupt {
            path: self.path.clone(),
            reason,
        }
    }

    /// Takes the NetCDF file out of the source (which then has no values
    /// to read).
    pub(crate) fn take_file(&mut self) -> Result<NcFile> {
        match std::mem::replace(&mut self.backend, Backend::Mem(Vec::new())) {
            Backend::Nc(f) => Ok(f),
            Backend::Mem(_) => Err(IoError::UnsupportedFormat(format!(
                "'{}' is not a NetCDF file",
                self.path
            ))),
        }
    }

    /// The NetCDF file behind the source.
    fn nc(&self, what: &str) -> Result<&NcFile> {
        match &self.backend {
            Backend::Nc(f) => Ok(f),
            Backend::Mem(_) => Err(IoError::UnsupportedFormat(format!(
                "{what}: not available for '{}'",
                self.path
            ))),
        }
    }

    /// Reads a variable's values exactly, in its own type.
    pub fn read_data(&self, v: &SrcVar) -> Result<CoordData> {
        if let Backend::Mem(data) = &self.backend {
            let i = self
                .vars
                .iter()
                .position(|x| x.name == v.name)
                .ok_or_else(|| self.corrupt(format!("variable '{}' has no data", v.name)))?;
            return data
                .get(i)
                .cloned()
                .ok_or_else(|| self.corrupt(format!("variable '{}' has no data", v.name)));
        }
        let file = self.nc("reading data")?;
        let n = v
            .shape
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b))
            .ok_or_else(|| self.corrupt(format!("variable '{}' is too large", v.name)))?;
        let name = v.name.as_str();
        // A damaged header may announce huge dims: refuse before allocating.
        let bytes = n.saturating_mul(v.dtype.map_or(1, dtype_size));
        let classic = !matches!(file.format(), NcFormat::Nc4 | NcFormat::Nc4Classic);
        if classic && bytes > self.file_len {
            return Err(self.corrupt(format!(
                "variable '{name}' needs {bytes} bytes but the file has only {} (truncated or damaged)",
                self.file_len
            )));
        }
        let err = |e: netcdf_reader::Error| {
            self.corrupt(format!("cannot read the data of variable '{name}': {e}"))
        };
        macro_rules! read {
            ($t:ty) => {{
                let mut buf = vec![<$t>::default(); n];
                if n > 0 {
                    file.read_variable_into::<$t>(name, &mut buf).map_err(err)?;
                }
                buf
            }};
        }
        Ok(match v.dtype {
            Some(DType::I8) => CoordData::I8(read!(i8)),
            Some(DType::U8) => CoordData::U8(read!(u8)),
            Some(DType::I16) => CoordData::I16(read!(i16)),
            Some(DType::U16) => CoordData::I32(read!(u16).into_iter().map(i32::from).collect()),
            Some(DType::I32) => CoordData::I32(read!(i32)),
            Some(DType::U32) => CoordData::I64(read!(u32).into_iter().map(i64::from).collect()),
            Some(DType::I64) => CoordData::I64(read!(i64)),
            // u64 is kept bit for bit in an i64; AuxVar::dtype says how to read it.
            Some(DType::U64) => CoordData::I64(
                read!(u64)
                    .into_iter()
                    .map(|x| i64::from_ne_bytes(x.to_ne_bytes()))
                    .collect(),
            ),
            Some(DType::F32) => CoordData::F32(read!(f32)),
            Some(DType::F64) => CoordData::F64(read!(f64)),
            Some(DType::Char) => {
                let width = v.shape.last().copied().unwrap_or(1);
                let mut bytes = Vec::with_capacity(n);
                if n > 0 {
                    let strings = file.read_variable_as_strings(name).map_err(err)?;
                    for s in strings {
                        let mut b = s.into_bytes();
                        if b.len() > width {
                            return Err(self.corrupt(format!(
                                "char variable '{name}' has a string longer than its last dim"
                            )));
                        }
                        b.resize(width, 0);
                        bytes.extend_from_slice(&b);
                    }
                }
                if bytes.len() != n {
                    return Err(self.corrupt(format!(
                        "char variable '{name}' gave {} bytes, expected {n}",
                        bytes.len()
                    )));
                }
                CoordData::Text(bytes)
            }
            None => {
                return Err(IoError::UnsupportedFormat(format!(
                    "variable '{name}' has a NetCDF-4 type (string, compound, enum, opaque or \
                     variable-length) that hiha cannot keep"
                )))
            }
        })
    }

    /// Reads a NetCDF-4 string variable as a char array padded with NULs to
    /// its longest string, on a new dim `<name>_strlen` (added to `dims`).
    fn read_strings(&self, v: &SrcVar, dims: &mut Vec<Dim>) -> Result<AuxVar> {
        let name = v.name.as_str();
        let strings = self
            .nc("reading strings")?
            .read_variable_as_strings(name)
            .map_err(|e| {
                self.corrupt(format!("cannot read the strings of variable '{name}': {e}"))
            })?;
        let n: usize = v
            .shape
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b))
            .ok_or_else(|| self.corrupt(format!("variable '{name}' is too large")))?;
        if strings.len() != n {
            return Err(self.corrupt(format!(
                "string variable '{name}' gave {} strings, its dims say {n}",
                strings.len()
            )));
        }
        let width = strings.iter().map(String::len).max().unwrap_or(0).max(1);
        let mut bytes = Vec::with_capacity(n.saturating_mul(width));
        for s in &strings {
            bytes.extend_from_slice(s.as_bytes());
            bytes.resize(bytes.len() + width - s.len(), 0);
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
        let mut attrs = v.attrs.clone();
        if !attrs.iter().any(|a| a.name == "_Encoding") {
            attrs.push(Attr::new("_Encoding", AttrValue::Text("utf-8".into())));
        }
        let mut vdims = v.dims.clone();
        vdims.push(dim);
        Ok(AuxVar {
            name: v.name.clone(),
            dims: vdims,
            dtype: DType::Char,
            attrs,
            data: CoordData::Text(bytes),
        })
    }

    /// Reads a 1-D coordinate as f64, applying CF packing when present.
    fn read_coord(&self, v: &SrcVar) -> Result<Vec<f64>> {
        let data = self.read_data(v)?;
        let mut out = coord_f64(&data);
        if let Some(p) = cf::packing(&v.attrs) {
            for x in &mut out {
                *x = *x * p.scale + p.offset;
            }
        }
        Ok(out)
    }
}

fn dtype_size(t: DType) -> usize {
    match t {
        DType::I8 | DType::U8 | DType::Char => 1,
        DType::I16 | DType::U16 => 2,
        DType::I32 | DType::U32 | DType::F32 => 4,
        DType::I64 | DType::U64 | DType::F64 => 8,
    }
}

/// The values of a [`CoordData`] as f64 (text gives an empty vector).
pub(crate) fn coord_f64(d: &CoordData) -> Vec<f64> {
    match d {
        CoordData::F64(v) => v.clone(),
        CoordData::F32(v) => v.iter().map(|&x| x as f64).collect(),
        CoordData::I64(v) => v.iter().map(|&x| x as f64).collect(),
        CoordData::I32(v) => v.iter().map(|&x| x as f64).collect(),
        CoordData::I16(v) => v.iter().map(|&x| x as f64).collect(),
        CoordData::I8(v) => v.iter().map(|&x| x as f64).collect(),
        CoordData::U8(v) => v.iter().map(|&x| x as f64).collect(),
        CoordData::Text(_) => Vec::new(),
    }
}

/// Lists the variables of a NetCDF file (classic or NetCDF-4).
pub fn list_variables(path: &Path) -> Result<Vec<VarSummary>> {
    let src = Source::open(path)?;
    let data = src.data_candidates();
    Ok(src
        .vars
        .iter()
        .map(|v| VarSummary {
            name: v.name.clone(),
            dims: v.dims.clone(),
            shape: v.shape.clone(),
            dtype: v.dtype,
            long_name: cf::attr_text(&v.attrs, "long_name").map(str::to_string),
            is_data: data.contains(&v.name),
        })
        .collect())
}

/// Reads one variable with its grid and all metadata.
///
/// With `var = None` the file must hold exactly one data variable (see
/// [`VarSummary::is_data`]); otherwise [`IoError::NotFound`] lists the
/// candidates. Packed integers are unpacked (`scale_factor`, `add_offset`,
/// computed in f64, stored as f32); `_FillValue`, `missing_value` and NaN
/// become missing elements. Every other variable is kept exactly in
/// `meta.aux_vars`, except those of a type hiha cannot represent (NetCDF-4
/// strings and user-defined types), which are left out with a note.
pub fn read_variable(path: &Path, var: Option<&str>) -> Result<LoadedVariable> {
    read_variable_from(Source::open(path)?, var)
}

/// [`read_variable`] of an opened source.
pub(crate) fn read_variable_from(src: Source, var: Option<&str>) -> Result<LoadedVariable> {
    let candidates = src.data_candidates();
    let name = match var {
        Some(v) => {
            if src.var(v).is_none() {
                return Err(IoError::NotFound {
                    var: Some(v.to_string()),
                    candidates,
                });
            }
            v.to_string()
        }
        None => match candidates.as_slice() {
            [one] => one.clone(),
            _ => {
                return Err(IoError::NotFound {
                    var: None,
                    candidates,
                })
            }
        },
    };
    let mut notes = src.notes.clone();
    let (field, var, grid) = load_data_var(&src, &name)?;
    let mut dims = src.dims.clone();
    let aux_vars = keep_aux_vars(&src, &[name.as_str()], &[], &mut dims, &mut notes)?;
    let meta = DatasetMeta {
        dims,
        global_attrs: src.global_attrs.clone(),
        aux_vars,
        var,
    };
    Ok(LoadedVariable {
        field,
        meta,
        grid,
        notes,
    })
}

/// Reads the data variables of a file: those named in `vars`, or with
/// `None` every gridded data variable (numeric, at least latitude and
/// longitude dims, not a coordinate or bounds variable). Every other
/// variable is kept exactly in each variable's `meta.aux_vars`, except:
/// data variables left out by `vars` (named in a note), and variables of a
/// type hiha cannot represent, such as the CDS `expver` string variable
/// (named in a note). Candidates that turn out not to be on a regular
/// lat/lon grid are kept exactly, not compressed (with a note).
pub fn read_dataset(path: &Path, vars: Option<&[&str]>) -> Result<LoadedDataset> {
    read_dataset_from(Source::open(path)?, vars)
}

/// [`read_dataset`] of an opened source.
pub(crate) fn read_dataset_from(src: Source, vars: Option<&[&str]>) -> Result<LoadedDataset> {
    let (loaded, notes) = select_dataset(&src, vars, load_data_var)?;
    let variables = loaded
        .into_iter()
        .map(|(field, meta, grid)| LoadedVariable {
            field,
            meta,
            grid,
            notes: Vec::new(),
        })
        .collect();
    Ok(LoadedDataset { variables, notes })
}

/// What [`select_dataset`] gives: each variable's data (or reader),
/// metadata and grid, and the notes.
pub(crate) type Selected<T> = (Vec<(T, DatasetMeta, Grid)>, Vec<String>);

/// The data variables [`read_dataset`] picks (`vars`, or every gridded
/// one), each `load`ed (its values, or what reads them later) with its
/// metadata and grid, and the notes.
pub(crate) fn select_dataset<T>(
    src: &Source,
    vars: Option<&[&str]>,
    load: impl Fn(&Source, &str) -> Result<(T, VarMeta, Grid)>,
) -> Result<Selected<T>> {
    let candidates = src.data_candidates();
    let mut notes = src.notes.clone();
    let mut names: Vec<String> = Vec::new();
    let mut loaded = Vec::new();
    let mut left_out: Vec<&str> = Vec::new();
    match vars {
        Some(list) => {
            for v in list {
                if src.var(v).is_none() {
                    return Err(IoError::NotFound {
                        var: Some(v.to_string()),
                        candidates,
                    });
                }
                if names.iter().any(|n| n == v) {
                    continue;
                }
                loaded.push(load(src, v)?);
                names.push(v.to_string());
            }
            left_out = candidates
                .iter()
                .map(String::as_str)
                .filter(|c| !list.contains(c))
                .collect();
            if !left_out.is_empty() {
                notes.push(format!(
                    "data variable(s) {} not selected: left out",
                    left_out.join(", ")
                ));
            }
        }
        None => {
            for c in &candidates {
                match load(src, c) {
                    Ok(l) => {
                        loaded.push(l);
                        names.push(c.clone());
                    }
                    Err(e @ (IoError::BadShape(_) | IoError::NotRegularGrid(_))) => notes.push(
                        format!("variable '{c}' is kept exactly, not compressed: {e}"),
                    ),
                    Err(e) => return Err(e),
                }
            }
        }
    }
    if loaded.is_empty() {
        return Err(IoError::NotFound {
            var: None,
            candidates,
        });
    }
    let exclude: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut dims = src.dims.clone();
    let aux_vars = keep_aux_vars(src, &exclude, &left_out, &mut dims, &mut notes)?;
    let variables = loaded
        .into_iter()
        .map(|(data, var, grid)| {
            let meta = DatasetMeta {
                dims: dims.clone(),
                global_attrs: src.global_attrs.clone(),
                aux_vars: aux_vars.clone(),
                var,
            };
            (data, meta, grid)
        })
        .collect();
    Ok((variables, notes))
}

/// A data variable's description: what reading its values needs.
pub(crate) struct DataVar {
    pub dtype: DType,
    pub shape: Shape,
    pub attrs: Vec<Attr>,
    /// The variable's dim lengths in file order.
    pub dim_lens: Vec<usize>,
}

/// Reads a data variable: its field (unpacked, with missing values) and
/// description, and checks its grid.
fn load_data_var(src: &Source, name: &str) -> Result<(Field, VarMeta, Grid)> {
    let (d, meta, grid) = describe_data_var(src, name)?;
    let v = src.var(name).ok_or_else(|| IoError::NotFound {
        var: Some(name.to_string()),
        candidates: src.data_candidates(),
    })?;
    let raw = src.read_data(v)?;
    let values = unpack(&raw, d.dtype, &d.attrs);
    if values.len() != d.shape.len() {
        return Err(src.corrupt(format!(
            "variable '{name}' has {} values, its dims say {}",
            values.len(),
            d.shape.len()
        )));
    }
    let mut field = Field::new(d.shape, values, None)?;
    field.packing = field_packing(d.dtype, &d.attrs);
    Ok((field, meta, grid))
}

/// A data variable's description and grid, checked as
/// [`read_variable`] checks them, without reading its values.
pub(crate) fn describe_data_var(src: &Source, name: &str) -> Result<(DataVar, VarMeta, Grid)> {
    let v = src.var(name).ok_or_else(|| IoError::NotFound {
        var: Some(name.to_string()),
        candidates: src.data_candidates(),
    })?;
    let dtype = match v.dtype {
        Some(DType::Char) | None => {
            return Err(IoError::UnsupportedFormat(format!(
                "variable '{name}' is not numeric; hiha compresses numeric variables only"
            )))
        }
        Some(t) => t,
    };
    let (layout, shape) = layout_of(src, v)?;

    // Grid.
    let coord = |dim: &str| -> Result<Vec<f64>> {
        match src.coord_var(dim) {
            Some(c) => src.read_coord(c),
            None => Err(IoError::NotRegularGrid(format!(
                "dimension '{dim}' of variable '{name}' has no 1-D coordinate variable, so the grid \
                 cannot be checked"
            ))),
        }
    };
    let lat = coord(&layout.lat_dim)?;
    let lon = coord(&layout.lon_dim)?;
    let levels = match &layout.level_dim {
        Some(d) => match src.coord_var(d) {
            Some(c) => Some(src.read_coord(c)?),
            None => None,
        },
        None => None,
    };
    let grid = Grid::from_coords(&layout.lat_dim, lat, &layout.lon_dim, lon, levels)?;
    let meta = VarMeta {
        name: name.to_string(),
        layout,
        dtype,
        attrs: v.attrs.clone(),
    };
    let d = DataVar {
        dtype,
        shape,
        attrs: v.attrs.clone(),
        dim_lens: v.shape.clone(),
    };
    Ok((d, meta, grid))
}

/// Every variable of the file except `exclude` and `drop`, read exactly.
/// Variables of a type hiha cannot represent are left out with a note.
///
/// A NetCDF-4 string variable (the CDS `expver`) is kept as a char array
/// with one more dim, `<name>_strlen`, added to `dims`, and `_Encoding =
/// "utf-8"`, which xarray decodes back to strings.
fn keep_aux_vars(
    src: &Source,
    exclude: &[&str],
    drop: &[&str],
    dims: &mut Vec<Dim>,
    notes: &mut Vec<String>,
) -> Result<Vec<AuxVar>> {
    let mut out = Vec::new();
    for a in &src.vars {
        let n = a.name.as_str();
        if exclude.contains(&n) || drop.contains(&n) {
            continue;
        }
        if a.is_string {
            out.push(src.read_strings(a, dims)?);
            continue;
        }
        let Some(dtype) = a.dtype else {
            notes.push(format!(
                "variable '{n}' ({}) has a NetCDF-4 type (string, compound, enum, opaque or \
                 variable-length) that hiha cannot keep: left out",
                a.dims.join(", ")
            ));
            continue;
        };
        let data = src.read_data(a)?;
        out.push(AuxVar {
            name: a.name.clone(),
            dims: a.dims.clone(),
            dtype,
            attrs: a.attrs.clone(),
            data,
        });
    }
    Ok(out)
}

/// Maps the variable's dims onto frames × levels × lat × lon.
fn layout_of(src: &Source, v: &SrcVar) -> Result<(VarLayout, Shape)> {
    let name = &v.name;
    let nd = v.dims.len();
    if nd < 2 {
        return Err(IoError::BadShape(format!(
            "variable '{name}' has {nd} dim(s) ({}); hiha needs at least latitude and longitude dims",
            v.dims.join(", ")
        )));
    }
    let (ya, xa) = (&v.dims[nd - 2], &v.dims[nd - 1]);
    match (src.axis_kind(ya), src.axis_kind(xa)) {
        (AxisKind::Lat, AxisKind::Lon) => {}
        (AxisKind::Lon, AxisKind::Lat) => {
            return Err(IoError::BadShape(format!(
                "variable '{name}' has dims ({}): longitude before latitude is not supported, the \
                 last two dims must be (latitude, longitude)",
                v.dims.join(", ")
            )))
        }
        _ => {
            // Curvilinear grids: 2-D latitude/longitude variables.
            let two_d = src.vars.iter().find(|c| {
                c.dims.len() == 2
                    && c.name != *name
                    && matches!(
                        cf::axis_kind(&c.name, Some(&c.attrs)),
                        AxisKind::Lat | AxisKind::Lon
                    )
            });
            if let Some(c) = two_d {
                return Err(IoError::NotRegularGrid(format!(
                    "variable '{name}' is on a curvilinear grid: its coordinate '{}' is 2-D ({}); only \
                     regular grids with 1-D latitude and longitude are supported",
                    c.name,
                    c.dims.join(", ")
                )));
            }
            return Err(IoError::BadShape(format!(
                "the last two dims of variable '{name}' ({ya}, {xa}) are not recognised as latitude \
                 and longitude (by name, units degrees_north/degrees_east or standard_name)"
            )));
        }
    }
    let level_dim = (nd >= 3 && src.axis_kind(&v.dims[nd - 3]) == AxisKind::Level)
        .then(|| v.dims[nd - 3].clone());
    let frame_dims = nd - 2 - usize::from(level_dim.is_some());
    let frames = v.shape[..frame_dims]
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .ok_or_else(|| IoError::BadShape(format!("variable '{name}' is too large")))?;
    let levels = if level_dim.is_some() {
        v.shape[nd - 3]
    } else {
        1
    };
    let shape = Shape::new(frames, levels, v.shape[nd - 2], v.shape[nd - 1]);
    shape.checked_len()?;
    if shape.is_empty() {
        return Err(IoError::BadShape(format!(
            "variable '{name}' is empty (dims {} = {:?})",
            v.dims.join(", "),
            v.shape
        )));
    }
    let layout = VarLayout {
        dims: v.dims.clone(),
        frame_dims,
        level_dim,
        lat_dim: ya.clone(),
        lon_dim: xa.clone(),
    };
    Ok((layout, shape))
}

/// Turns raw values into f32. Elements equal to `_FillValue` or a
/// `missing_value`, and elements outside `valid_min`/`valid_max`/
/// `valid_range` (compared in the file's own units, as CF says), become the
/// [`MISSING`] marker; NaN becomes missing only when the fill value is NaN;
/// infinities that are not a fill value stay infinities.
pub(crate) fn unpack(raw: &CoordData, dtype: DType, attrs: &[Attr]) -> Vec<f32> {
    let unsigned = cf::is_unsigned(attrs, dtype);
    let fix = |x: f64| {
        if unsigned {
            cf::as_unsigned(x, dtype)
        } else {
            x
        }
    };
    let markers: Vec<f64> = cf::missing_markers(attrs).into_iter().map(fix).collect();
    let nan_is_fill = markers.iter().any(|m| m.is_nan());
    let (vmin, vmax) = cf::valid_bounds(attrs);
    let (vmin, vmax) = (vmin.map(fix), vmax.map(fix));
    let packing = cf::packing(attrs);
    let p = packing.unwrap_or(cf::Packing {
        scale: 1.0,
        offset: 0.0,
    });
    let conv = |x: f64| -> f32 {
        let x = fix(x);
        let outside = vmin.is_some_and(|m| x < m) || vmax.is_some_and(|m| x > m);
        if markers.contains(&x) || (x.is_nan() && nan_is_fill) || outside {
            MISSING
        } else if packing.is_some() {
            (x * p.scale + p.offset) as f32
        } else {
            x as f32
        }
    };
    match raw {
        CoordData::F64(v) => v.iter().map(|&x| conv(x)).collect(),
        // f32 data converts to f64 exactly and back (NaN payloads aside).
        CoordData::F32(v) if packing.is_none() => v
            .iter()
            .map(|&x| {
                let y = conv(x as f64);
                if x.is_nan() && !is_missing_marker(y) {
                    x
                } else {
                    y
                }
            })
            .collect(),
        CoordData::F32(v) => v.iter().map(|&x| conv(x as f64)).collect(),
        CoordData::I64(v) if dtype == DType::U64 => v
            .iter()
            .map(|&x| conv(u64::from_ne_bytes(x.to_ne_bytes()) as f64))
            .collect(),
        CoordData::I64(v) => v.iter().map(|&x| conv(x as f64)).collect(),
        CoordData::I32(v) => v.iter().map(|&x| conv(x as f64)).collect(),
        CoordData::I16(v) => v.iter().map(|&x| conv(x as f64)).collect(),
        CoordData::I8(v) => v.iter().map(|&x| conv(x as f64)).collect(),
        CoordData::U8(v) => v.iter().map(|&x| conv(x as f64)).collect(),
        CoordData::Text(_) => Vec::new(),
    }
}

/// The packing of an integer variable, under which its f32 values are
/// roundings of `scale · k + offset`.
pub(crate) fn field_packing(dtype: DType, attrs: &[Attr]) -> Option<Packing> {
    let integer = !matches!(dtype, DType::F32 | DType::F64 | DType::Char);
    let p = cf::packing(attrs).filter(|_| integer)?;
    Some(Packing {
        scale: p.scale,
        offset: p.offset,
    })
}

/// The on-disk format of a file, for messages and tests.
pub fn file_format(path: &Path) -> Result<&'static str> {
    let src = Source::open(path)?;
    Ok(match src.nc("the format")?.format() {
        NcFormat::Classic => "CDF-1 (classic)",
        NcFormat::Offset64 => "CDF-2 (64-bit offset)",
        NcFormat::Cdf5 => "CDF-5 (64-bit data)",
        NcFormat::Nc4 => "NetCDF-4",
        NcFormat::Nc4Classic => "NetCDF-4 classic model",
    })
}
