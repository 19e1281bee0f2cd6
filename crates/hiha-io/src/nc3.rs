//! A small NetCDF-3 writer (CDF-2 "64-bit offset", CDF-5 when a type or size
//! needs it). Written here rather than taken from a crate so that every
//! attribute type, the record (unlimited) dim and the exact bytes of
//! auxiliary variables are under our control.

use std::io::Write;

use hiha_core::meta::{Attr, AttrValue, CoordData, DType};

const NC_DIMENSION: u32 = 0x0A;
const NC_VARIABLE: u32 = 0x0B;
const NC_ATTRIBUTE: u32 = 0x0C;

/// The data of one variable to write.
pub(crate) enum VarData<'a> {
    Coord(&'a CoordData),
    F32(&'a [f32]),
    /// This many elements, written later piece by piece
    /// ([`OutFile::write_streamed`], [`Layout::write_piece`]).
    Deferred(usize),
}

pub(crate) struct OutDim<'a> {
    pub name: &'a str,
    pub len: usize,
}

pub(crate) struct OutVar<'a> {
    pub name: &'a str,
    pub dimids: Vec<usize>,
    pub dtype: DType,
    pub attrs: &'a [Attr],
    pub data: VarData<'a>,
}

/// A file to write: dims, global attributes, variables, and the index of the
/// record dim (it must be the first dim of every variable that uses it).
pub(crate) struct OutFile<'a> {
    pub dims: Vec<OutDim<'a>>,
    pub record_dim: Option<usize>,
    pub global_attrs: &'a [Attr],
    pub vars: Vec<OutVar<'a>>,
}

fn type_code(t: DType) -> u32 {
    match t {
        DType::I8 => 1,
        DType::Char => 2,
        DType::I16 => 3,
        DType::I32 => 4,
        DType::F32 => 5,
        DType::F64 => 6,
        DType::U8 => 7,
        DType::U16 => 8,
        DType::U32 => 9,
        DType::I64 => 10,
        DType::U64 => 11,
    }
}

fn type_size(t: DType) -> usize {
    match t {
        DType::I8 | DType::U8 | DType::Char => 1,
        DType::I16 | DType::U16 => 2,
        DType::I32 | DType::U32 | DType::F32 => 4,
        DType::I64 | DType::U64 | DType::F64 => 8,
    }
}

fn cdf5_only(t: DType) -> bool {
    matches!(
        t,
        DType::U8 | DType::U16 | DType::U32 | DType::I64 | DType::U64
    )
}

fn attr_type(v: &AttrValue) -> DType {
    match v {
        AttrValue::Text(_) => DType::Char,
        AttrValue::I8(_) => DType::I8,
        AttrValue::U8(_) => DType::U8,
        AttrValue::I16(_) => DType::I16,
        AttrValue::U16(_) => DType::U16,
        AttrValue::I32(_) => DType::I32,
        AttrValue::U32(_) => DType::U32,
        AttrValue::I64(_) => DType::I64,
        AttrValue::U64(_) => DType::U64,
        AttrValue::F32(_) => DType::F32,
        AttrValue::F64(_) => DType::F64,
    }
}

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

struct Enc {
    buf: Vec<u8>,
    cdf5: bool,
}

impl Enc {
    fn u32(&mut self, x: u32) {
        self.buf.extend_from_slice(&x.to_be_bytes());
    }
    fn u64(&mut self, x: u64) {
        self.buf.extend_from_slice(&x.to_be_bytes());
    }
    /// A count (nelems, dim length, dimid, vsize): 8 bytes in CDF-5.
    fn count(&mut self, n: usize) -> Result<(), String> {
        if self.cdf5 {
            self.u64(n as u64);
        } else {
            self.u32(u32::try_from(n).map_err(|_| format!("count {n} does not fit a CDF-2 file"))?);
        }
        Ok(())
    }
    fn pad(&mut self) {
        while self.buf.len() & 3 != 0 {
            self.buf.push(0);
        }
    }
    fn name(&mut self, s: &str) -> Result<(), String> {
        self.count(s.len())?;
        self.buf.extend_from_slice(s.as_bytes());
        self.pad();
        Ok(())
    }
    fn attrs(&mut self, attrs: &[Attr]) -> Result<(), String> {
        if attrs.is_empty() {
            self.u32(0);
            return self.count(0);
        }
        self.u32(NC_ATTRIBUTE);
        self.count(attrs.len())?;
        for a in attrs {
            self.name(&a.name)?;
            self.u32(type_code(attr_type(&a.value)));
            macro_rules! nums {
                ($v:expr) => {{
                    self.count($v.len())?;
                    for x in $v {
                        self.buf.extend_from_slice(&x.to_be_bytes());
                    }
                }};
            }
            match &a.value {
                AttrValue::Text(s) => {
                    self.count(s.len())?;
                    self.buf.extend_from_slice(s.as_bytes());
                }
                AttrValue::I8(v) => nums!(v),
                AttrValue::U8(v) => nums!(v),
                AttrValue::I16(v) => nums!(v),
                AttrValue::U16(v) => nums!(v),
                AttrValue::I32(v) => nums!(v),
                AttrValue::U32(v) => nums!(v),
                AttrValue::I64(v) => nums!(v),
                AttrValue::U64(v) => nums!(v),
                AttrValue::F32(v) => nums!(v),
                AttrValue::F64(v) => nums!(v),
            }
            self.pad();
        }
        Ok(())
    }
}

/// Number of elements of a variable's data.
fn data_len(d: &VarData) -> usize {
    match d {
        VarData::F32(v) => v.len(),
        VarData::Deferred(n) => *n,
        VarData::Coord(c) => match c {
            CoordData::F64(v) => v.len(),
            CoordData::F32(v) => v.len(),
            CoordData::I64(v) => v.len(),
            CoordData::I32(v) => v.len(),
            CoordData::I16(v) => v.len(),
            CoordData::I8(v) => v.len(),
            CoordData::U8(v) => v.len(),
            CoordData::Text(v) => v.len(),
        },
    }
}

/// Appends elements `range` of the data, big-endian, in the variable's type.
fn encode(out: &mut Vec<u8>, var: &OutVar, range: std::ops::Range<usize>) -> Result<(), String> {
    let mismatch = || {
        format!(
            "variable '{}': data does not match its type {:?}",
            var.name, var.dtype
        )
    };
    macro_rules! put {
        ($v:expr, $conv:expr) => {{
            for &x in &$v[range] {
                out.extend_from_slice(&($conv)(x).to_be_bytes());
            }
        }};
    }
    match (&var.data, var.dtype) {
        (VarData::F32(v), DType::F32) => put!(v, |x: f32| x),
        (VarData::Coord(CoordData::F32(v)), DType::F32) => put!(v, |x: f32| x),
        (VarData::Coord(CoordData::F64(v)), DType::F64) => put!(v, |x: f64| x),
        (VarData::Coord(CoordData::I64(v)), DType::I64) => put!(v, |x: i64| x),
        (VarData::Coord(CoordData::I64(v)), DType::U64) => put!(v, |x: i64| x),
        (VarData::Coord(CoordData::I64(v)), DType::U32) => {
            for &x in &v[range] {
                out.extend_from_slice(&u32::try_from(x).map_err(|_| mismatch())?.to_be_bytes());
            }
        }
        (VarData::Coord(CoordData::I32(v)), DType::I32) => put!(v, |x: i32| x),
        (VarData::Coord(CoordData::I32(v)), DType::U16) => {
            for &x in &v[range] {
                out.extend_from_slice(&u16::try_from(x).map_err(|_| mismatch())?.to_be_bytes());
            }
        }
        (VarData::Coord(CoordData::I16(v)), DType::I16) => put!(v, |x: i16| x),
        (VarData::Coord(CoordData::I8(v)), DType::I8) => put!(v, |x: i8| x),
        (VarData::Coord(CoordData::U8(v)), DType::U8) => put!(v, |x: u8| x),
        (VarData::Coord(CoordData::Text(v)), DType::Char) => out.extend_from_slice(&v[range]),
        _ => return Err(mismatch()),
    }
    Ok(())
}

impl OutFile<'_> {
    /// True when the file needs CDF-5 (64-bit types or sizes).
    fn needs_cdf5(&self) -> bool {
        let limit = (u32::MAX - 3) as usize;
        self.vars.iter().any(|v| {
            cdf5_only(v.dtype)
                || v.attrs.iter().any(|a| cdf5_only(attr_type(&a.value)))
                || data_len(&v.data).saturating_mul(type_size(v.dtype)) > limit
        }) || self
            .global_attrs
            .iter()
            .any(|a| cdf5_only(attr_type(&a.value)))
            || self.dims.iter().any(|d| d.len > i32::MAX as usize)
    }

    fn is_record(&self, v: &OutVar) -> bool {
        self.record_dim.is_some() && v.dimids.first() == self.record_dim.as_ref()
    }

    /// Elements of one record (record vars) or of the whole variable.
    fn slab_len(&self, v: &OutVar) -> usize {
        let skip = usize::from(self.is_record(v));
        v.dimids[skip.min(v.dimids.len())..]
            .iter()
            .fold(1usize, |acc, &d| acc.saturating_mul(self.dims[d].len))
    }

    fn header(&self, cdf5: bool, begins: &[u64]) -> Result<Vec<u8>, String> {
        let mut e = Enc {
            buf: Vec::new(),
            cdf5,
        };
        e.buf
            .extend_from_slice(if cdf5 { b"CDF\x05" } else { b"CDF\x02" });
        let numrecs = self.record_dim.map_or(0, |d| self.dims[d].len);
        e.count(numrecs)?;
        if self.dims.is_empty() {
            e.u32(0);
            e.count(0)?;
        } else {
            e.u32(NC_DIMENSION);
            e.count(self.dims.len())?;
            for (i, d) in self.dims.iter().enumerate() {
                e.name(d.name)?;
                e.count(if Some(i) == self.record_dim { 0 } else { d.len })?;
            }
        }
        e.attrs(self.global_attrs)?;
        if self.vars.is_empty() {
            e.u32(0);
            e.count(0)?;
        } else {
            e.u32(NC_VARIABLE);
            e.count(self.vars.len())?;
            for (v, &begin) in self.vars.iter().zip(begins) {
                e.name(v.name)?;
                e.count(v.dimids.len())?;
                for &d in &v.dimids {
                    e.count(d)?;
                }
                e.attrs(v.attrs)?;
                e.u32(type_code(v.dtype));
                let vsize = pad4(self.slab_len(v).saturating_mul(type_size(v.dtype)));
                if cdf5 {
                    e.u64(vsize as u64);
                } else {
                    // Too large for 32 bits: the format says to write 2^32 - 1.
                    e.u32(u32::try_from(vsize).unwrap_or(u32::MAX));
                }
                e.u64(begin);
            }
        }
        Ok(e.buf)
    }

    /// Checks the variables' dims and data lengths, and works out where
    /// each variable's data goes.
    fn layout(&self) -> Result<Layout, String> {
        for v in &self.vars {
            if v.dimids.iter().any(|&d| d >= self.dims.len()) {
                return Err(format!("variable '{}' refers to an unknown dim", v.name));
            }
            // Checked: lengths come from an archive, and a product that
            // wraps would let a short data array pass this test.
            let want = v
                .dimids
                .iter()
                .try_fold(1usize, |acc, &d| acc.checked_mul(self.dims[d].len))
                .ok_or_else(|| format!("variable '{}': its dims' sizes overflow", v.name))?;
            if data_len(&v.data) != want {
                return Err(format!(
                    "variable '{}' has {} values, its dims need {want}",
                    v.name,
                    data_len(&v.data)
                ));
            }
        }
        let cdf5 = self.needs_cdf5();
        let placeholder = vec![0u64; self.vars.len()];
        let header_len = self.header(cdf5, &placeholder)?.len() as u64;
        // Fixed variables first, then the record section.
        let mut begins = vec![0u64; self.vars.len()];
        let mut pos = header_len;
        for (i, v) in self.vars.iter().enumerate() {
            if !self.is_record(v) {
                begins[i] = pos;
                let bytes = self
                    .slab_len(v)
                    .checked_mul(type_size(v.dtype))
                    .ok_or_else(|| format!("variable '{}' is too large", v.name))?;
                pos = pos
                    .checked_add(pad4(bytes) as u64)
                    .ok_or_else(|| format!("variable '{}' is too large", v.name))?;
            }
        }
        let rec_vars: Vec<usize> = (0..self.vars.len())
            .filter(|&i| self.is_record(&self.vars[i]))
            .collect();
        // One record variable alone is not padded between records.
        let single = rec_vars.len() == 1;
        let records_start = pos;
        for &i in &rec_vars {
            begins[i] = pos;
            let v = &self.vars[i];
            let n = self
                .slab_len(v)
                .checked_mul(type_size(v.dtype))
                .ok_or_else(|| format!("variable '{}' is too large", v.name))?;
            pos = pos
                .checked_add(if single { n } else { pad4(n) } as u64)
                .ok_or_else(|| format!("variable '{}' is too large", v.name))?;
        }
        let recsize = pos - records_start;
        let numrecs = self.record_dim.map_or(0, |d| self.dims[d].len);
        let total = (numrecs as u64)
            .checked_mul(recsize)
            .and_then(|r| r.checked_add(records_start))
            .ok_or_else(|| "the file is too large".to_string())?;
        let header = self.header(cdf5, &begins)?;
        Ok(Layout {
            header,
            begins,
            recsize,
            total,
            record: self.vars.iter().map(|v| self.is_record(v)).collect(),
            slab: self.vars.iter().map(|v| self.slab_len(v)).collect(),
            dtype: self.vars.iter().map(|v| v.dtype).collect(),
            rec_vars,
            numrecs,
        })
    }

    /// Encodes the whole file into `w`.
    pub fn write(&self, w: &mut impl Write) -> Result<(), String> {
        let l = self.layout()?;
        if self
            .vars
            .iter()
            .any(|v| matches!(v.data, VarData::Deferred(_)))
        {
            return Err("a variable has no data".into());
        }
        w.write_all(&l.header).map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        for v in self.vars.iter().filter(|v| !self.is_record(v)) {
            buf.clear();
            encode(&mut buf, v, 0..data_len(&v.data))?;
            buf.resize(pad4(buf.len()), 0);
            w.write_all(&buf).map_err(|e| e.to_string())?;
        }
        let single = l.rec_vars.len() == 1;
        for r in 0..l.numrecs {
            for &i in &l.rec_vars {
                let v = &self.vars[i];
                let n = self.slab_len(v);
                buf.clear();
                encode(&mut buf, v, r * n..(r + 1) * n)?;
                if !single {
                    buf.resize(pad4(buf.len()), 0);
                }
                w.write_all(&buf).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// Starts writing the file into `f` (empty, seekable): its full length
    /// (zeros), the header and every variable's data except the
    /// [`VarData::Deferred`] ones, which the caller then writes with
    /// [`Layout::write_piece`]. The bytes end up those [`OutFile::write`]
    /// writes (padding is zeros in both).
    pub fn write_streamed(&self, f: &mut std::fs::File) -> Result<Layout, String> {
        let l = self.layout()?;
        let err = |e: std::io::Error| e.to_string();
        f.set_len(l.total).map_err(err)?;
        write_at(f, 0, &l.header)?;
        let mut buf = Vec::new();
        for (i, v) in self.vars.iter().enumerate() {
            if matches!(v.data, VarData::Deferred(_)) {
                continue;
            }
            if !l.record[i] {
                buf.clear();
                encode(&mut buf, v, 0..data_len(&v.data))?;
                write_at(f, l.begins[i], &buf)?;
                continue;
            }
            let n = l.slab[i];
            for r in 0..l.numrecs {
                buf.clear();
                encode(&mut buf, v, r * n..(r + 1) * n)?;
                write_at(f, l.begins[i] + r as u64 * l.recsize, &buf)?;
            }
        }
        Ok(l)
    }
}

/// Writes `bytes` at offset `at` of `f`.
fn write_at(f: &mut std::fs::File, at: u64, bytes: &[u8]) -> Result<(), String> {
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
    f.write_all(bytes).map_err(|e| e.to_string())
}

/// Where each variable's data lies in a NetCDF-3 file being written.
pub(crate) struct Layout {
    header: Vec<u8>,
    begins: Vec<u64>,
    recsize: u64,
    /// The file's length.
    pub total: u64,
    record: Vec<bool>,
    /// Elements per record (record variables) or in all (the others).
    slab: Vec<usize>,
    dtype: Vec<DType>,
    rec_vars: Vec<usize>,
    numrecs: usize,
}

impl Layout {
    /// Writes elements `first .. first + len(data)` (in the variable's
    /// element order) of variable `i`, which must be of `data`'s type.
    pub fn write_piece(
        &self,
        f: &mut std::fs::File,
        i: usize,
        first: usize,
        data: &VarData,
    ) -> Result<(), String> {
        let n = data_len(data);
        let slab = self.slab[i].max(1);
        let total = if self.record[i] {
            slab.saturating_mul(self.numrecs)
        } else {
            slab
        };
        if first.checked_add(n).is_none_or(|e| e > total) {
            return Err(format!(
                "elements {first}..{} are outside the variable's {total}",
                first.saturating_add(n)
            ));
        }
        let var = OutVar {
            name: "",
            dimids: Vec::new(),
            dtype: self.dtype[i],
            attrs: &[],
            data: match data {
                VarData::Coord(c) => VarData::Coord(c),
                VarData::F32(v) => VarData::F32(v),
                VarData::Deferred(_) => return Err("no data to write".into()),
            },
        };
        let size = type_size(self.dtype[i]) as u64;
        let mut buf = Vec::new();
        let mut k = 0;
        while k < n {
            let e = first + k;
            // Within one record (or the whole fixed variable) at a time.
            let (pos, run) = if self.record[i] {
                let (r, o) = (e / slab, e % slab);
                (
                    self.begins[i] + r as u64 * self.recsize + o as u64 * size,
                    (slab - o).min(n - k),
                )
            } else {
                (self.begins[i] + e as u64 * size, n - k)
            };
            buf.clear();
            encode(&mut buf, &var, k..k + run)?;
            write_at(f, pos, &buf)?;
            k += run;
        }
        Ok(())
    }
}
