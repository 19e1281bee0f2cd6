//! Encoding of the [`Header`] block (see `docs/FORMAT.md`, "Header block").

use super::wire::{put_bytes, put_str, put_varint, put_zigzag, varint_len, Cursor};
use super::{Header, MAX_PROGRESSION_VALUES};
use crate::bound::Bound;
use crate::error::{Error, Result};
use crate::field::Shape;
use crate::meta::{
    Attr, AttrValue, AuxVar, CoordData, DType, DatasetMeta, Dim, VarLayout, VarMeta,
};

// Type codes shared by DType, AttrValue and CoordData.
const T_I8: u8 = 1;
const T_U8: u8 = 2;
const T_I16: u8 = 3;
const T_U16: u8 = 4;
const T_I32: u8 = 5;
const T_U32: u8 = 6;
const T_I64: u8 = 7;
const T_U64: u8 = 8;
const T_F32: u8 = 9;
const T_F64: u8 = 10;
const T_TEXT: u8 = 11;

// Coordinate encodings (high nibble of the coordinate tag).
const ENC_RAW: u8 = 0;
const ENC_PROGRESSION: u8 = 1;
const ENC_DELTA: u8 = 2;

// Bound tags.
const B_NRMSE: u8 = 1;
const B_MAX_ABS: u8 = 2;
const B_MAX_REL: u8 = 3;
const B_RMSE: u8 = 4;
// Format 2.1: the per-level modes.
const B_NRMSE_LEVEL: u8 = 5;
const B_MAX_REL_LEVEL: u8 = 6;
const B_PW_REL: u8 = 7;
const B_SPREAD: u8 = 8;

fn dtype_code(d: DType) -> u8 {
    match d {
        DType::I8 => T_I8,
        DType::U8 => T_U8,
        DType::I16 => T_I16,
        DType::U16 => T_U16,
        DType::I32 => T_I32,
        DType::U32 => T_U32,
        DType::I64 => T_I64,
        DType::U64 => T_U64,
        DType::F32 => T_F32,
        DType::F64 => T_F64,
        DType::Char => T_TEXT,
    }
}

/// Encodes the header block (without its length prefix and CRC).
pub(crate) fn encode(h: &Header) -> Result<Vec<u8>> {
    let mut e = Enc {
        out: Vec::with_capacity(256),
        budget: MAX_PROGRESSION_VALUES,
        dims: &h.meta.dims,
    };
    e.shape(&h.shape);
    e.bound(&h.bound);
    put_str(&mut e.out, &h.codec_config);
    put_bytes(&mut e.out, &h.extra);
    e.meta(&h.meta)?;
    if !h.variables.is_empty() {
        // Format 2.1: the second and later variables.
        e.usize(h.variables.len());
        for v in &h.variables {
            e.shape(&v.shape);
            e.bound(&v.bound);
            put_str(&mut e.out, &v.codec_config);
            put_bytes(&mut e.out, &v.extra);
            e.var(&v.var);
        }
    }
    Ok(e.out)
}

struct Enc<'m> {
    out: Vec<u8>,
    /// Progression values still allowed (mirrors the decoder's cap).
    budget: u64,
    dims: &'m [Dim],
}

impl Enc<'_> {
    fn usize(&mut self, v: usize) {
        put_varint(&mut self.out, v as u64);
    }

    fn shape(&mut self, s: &Shape) {
        for v in [s.frames, s.levels, s.lat, s.lon] {
            self.usize(v);
        }
    }

    fn bound(&mut self, b: &Bound) {
        let (tag, v) = match *b {
            Bound::Nrmse(v) => (B_NRMSE, v),
            Bound::MaxAbs(v) => (B_MAX_ABS, v),
            Bound::MaxRel(v) => (B_MAX_REL, v),
            Bound::Rmse(v) => (B_RMSE, v),
            Bound::NrmseLevel(v) => (B_NRMSE_LEVEL, v),
            Bound::MaxRelLevel(v) => (B_MAX_REL_LEVEL, v),
            Bound::PwRel(v) => (B_PW_REL, v),
            Bound::Spread(v) => (B_SPREAD, v),
        };
        self.out.push(tag);
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// A dim name: `k+1` for the name of `dims[k]`, or 0 and the name inline.
    fn dim_ref(&mut self, name: &str) {
        match self.dims.iter().position(|d| d.name == name) {
            Some(k) => put_varint(&mut self.out, k as u64 + 1),
            None => {
                self.out.push(0);
                put_str(&mut self.out, name);
            }
        }
    }

    fn dim_refs(&mut self, names: &[String]) {
        self.usize(names.len());
        for n in names {
            self.dim_ref(n);
        }
    }

    fn meta(&mut self, m: &DatasetMeta) -> Result<()> {
        self.usize(m.dims.len());
        for d in &m.dims {
            put_str(&mut self.out, &d.name);
            let len = u64::try_from(d.len)
                .ok()
                .filter(|&l| l <= u64::MAX >> 1)
                .ok_or_else(|| Error::InvalidInput(format!("dim '{}' is too long", d.name)))?;
            put_varint(&mut self.out, (len << 1) | d.unlimited as u64);
        }
        self.attrs(&m.global_attrs);
        self.usize(m.aux_vars.len());
        for v in &m.aux_vars {
            self.aux(v);
        }
        self.var(&m.var);
        Ok(())
    }

    fn aux(&mut self, v: &AuxVar) {
        put_str(&mut self.out, &v.name);
        self.dim_refs(&v.dims);
        self.out.push(dtype_code(v.dtype));
        self.attrs(&v.attrs);
        self.coord(&v.data);
    }

    fn var(&mut self, v: &VarMeta) {
        put_str(&mut self.out, &v.name);
        let l: &VarLayout = &v.layout;
        self.dim_refs(&l.dims);
        self.usize(l.frame_dims);
        match &l.level_dim {
            None => self.out.push(0),
            Some(n) => {
                self.out.push(1);
                self.dim_ref(n);
            }
        }
        self.dim_ref(&l.lat_dim);
        self.dim_ref(&l.lon_dim);
        self.out.push(dtype_code(v.dtype));
        self.attrs(&v.attrs);
    }

    fn attrs(&mut self, attrs: &[Attr]) {
        self.usize(attrs.len());
        for a in attrs {
            put_str(&mut self.out, &a.name);
            let o = &mut self.out;
            macro_rules! num {
                ($tag:expr, $v:expr) => {{
                    o.push($tag);
                    put_varint(o, $v.len() as u64);
                    for x in $v {
                        o.extend_from_slice(&x.to_le_bytes());
                    }
                }};
            }
            match &a.value {
                AttrValue::Text(s) => {
                    o.push(T_TEXT);
                    put_str(o, s);
                }
                AttrValue::I8(v) => num!(T_I8, v),
                AttrValue::U8(v) => num!(T_U8, v),
                AttrValue::I16(v) => num!(T_I16, v),
                AttrValue::U16(v) => num!(T_U16, v),
                AttrValue::I32(v) => num!(T_I32, v),
                AttrValue::U32(v) => num!(T_U32, v),
                AttrValue::I64(v) => num!(T_I64, v),
                AttrValue::U64(v) => num!(T_U64, v),
                AttrValue::F32(v) => num!(T_F32, v),
                AttrValue::F64(v) => num!(T_F64, v),
            }
        }
    }

    fn coord(&mut self, d: &CoordData) {
        match d {
            CoordData::F64(v) => {
                let prog = (v.len() > 2)
                    .then(|| float_progression(v, |x| x, |x| x.to_bits()))
                    .flatten()
                    .map(float_params);
                let ints = v
                    .iter()
                    .map(|&x| f64_integer(x))
                    .collect::<Option<Vec<i64>>>();
                self.choose(T_F64, v.len(), 8, prog, ints, |o| {
                    put_le(o, v, f64::to_le_bytes)
                });
            }
            CoordData::F32(v) => {
                let prog = (v.len() > 4)
                    .then(|| float_progression(v, |x| x as f32, |x| x.to_bits() as u64))
                    .flatten()
                    .map(float_params);
                let ints = v
                    .iter()
                    .map(|&x| f32_integer(x))
                    .collect::<Option<Vec<i64>>>();
                self.choose(T_F32, v.len(), 4, prog, ints, |o| {
                    put_le(o, v, f32::to_le_bytes)
                });
            }
            CoordData::I64(v) => self.int_coord(T_I64, v, 8, i64::to_le_bytes),
            CoordData::I32(v) => self.int_coord(T_I32, v, 4, i32::to_le_bytes),
            CoordData::I16(v) => self.int_coord(T_I16, v, 2, i16::to_le_bytes),
            CoordData::I8(v) => self.int_coord(T_I8, v, 1, i8::to_le_bytes),
            CoordData::U8(v) => self.int_coord(T_U8, v, 1, u8::to_le_bytes),
            CoordData::Text(v) => {
                self.out.push(T_TEXT);
                put_bytes(&mut self.out, v);
            }
        }
    }

    /// Takes `n` values from the progression budget, if there is room.
    fn spend(&mut self, n: usize) -> bool {
        let n = n as u64;
        if n <= self.budget {
            self.budget -= n;
            true
        } else {
            false
        }
    }

    fn int_coord<T, const N: usize>(&mut self, tag: u8, v: &[T], size: usize, le: fn(T) -> [u8; N])
    where
        T: Copy + Into<i64> + TryFrom<i64>,
    {
        let wide: Vec<i64> = v.iter().map(|&x| x.into()).collect();
        let prog = int_progression::<T>(&wide).map(|(a, s)| {
            let mut p = Vec::new();
            put_zigzag(&mut p, a);
            put_zigzag(&mut p, s);
            p
        });
        self.choose(tag, v.len(), size, prog, Some(wide), |o| put_le(o, v, le));
    }

    /// Writes a coordinate with the smallest of its encodings: progression
    /// (`prog` holds its start and step, already encoded), deltas of its
    /// integer values (`ints`), or raw. Ties go to progression, then raw.
    fn choose(
        &mut self,
        tag: u8,
        n: usize,
        size: usize,
        prog: Option<Vec<u8>>,
        ints: Option<Vec<i64>>,
        raw: impl FnOnce(&mut Vec<u8>),
    ) {
        let raw_len = n * size;
        let deltas = ints.and_then(|v| {
            let mut prev = 0i64;
            v.iter()
                .map(|&x| {
                    let d = x.checked_sub(prev)?;
                    prev = x;
                    Some(super::wire::zigzag(d))
                })
                .collect::<Option<Vec<u64>>>()
        });
        let delta_len = deltas
            .as_ref()
            .map_or(usize::MAX, |d| d.iter().map(|&z| varint_len(z)).sum());
        if let Some(p) = prog {
            if p.len() < raw_len && p.len() <= delta_len && self.spend(n) {
                self.out.push(tag | (ENC_PROGRESSION << 4));
                self.usize(n);
                self.out.extend_from_slice(&p);
                return;
            }
        }
        match deltas {
            Some(d) if delta_len < raw_len => {
                self.out.push(tag | (ENC_DELTA << 4));
                self.usize(n);
                for z in d {
                    put_varint(&mut self.out, z);
                }
            }
            _ => {
                self.out.push(tag);
                self.usize(n);
                raw(&mut self.out);
            }
        }
    }
}

fn put_le<T: Copy, const N: usize>(out: &mut Vec<u8>, v: &[T], le: fn(T) -> [u8; N]) {
    for &x in v {
        out.extend_from_slice(&le(x));
    }
}

fn float_params((start, step): (f64, f64)) -> Vec<u8> {
    let mut p = start.to_le_bytes().to_vec();
    p.extend_from_slice(&step.to_le_bytes());
    p
}

/// `x` as an integer when `x` is exactly that integer (not −0.0).
fn f64_integer(x: f64) -> Option<i64> {
    let i = (x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e18).then_some(x as i64)?;
    ((i as f64).to_bits() == x.to_bits()).then_some(i)
}

fn f32_integer(x: f32) -> Option<i64> {
    let i = f64_integer(x as f64)?;
    ((i as f32).to_bits() == x.to_bits()).then_some(i)
}

/// The `i`-th value of a float progression, as stored: `start + i·step` in
/// f64 (then rounded to the coordinate's own type by the caller).
fn float_at(start: f64, step: f64, i: usize) -> f64 {
    start + (i as f64) * step
}

/// `(start, step)` such that `cast(start + i·step)` reproduces every value of
/// `v` bit for bit, or `None`. Tries the first difference, then the mean step.
fn float_progression<T: Copy + Into<f64>>(
    v: &[T],
    cast: impl Fn(f64) -> T,
    bits: impl Fn(T) -> u64,
) -> Option<(f64, f64)> {
    let n = v.len();
    if n < 2 {
        return None;
    }
    let first: f64 = v[0].into();
    let last: f64 = v[n - 1].into();
    let second: f64 = v[1].into();
    let candidates = [second - first, (last - first) / (n - 1) as f64];
    candidates.into_iter().find_map(|step| {
        let ok = v
            .iter()
            .enumerate()
            .all(|(i, &x)| bits(cast(float_at(first, step, i))) == bits(x));
        ok.then_some((first, step))
    })
}

/// The `i`-th value of an integer progression, in checked i64 arithmetic.
fn int_at(start: i64, step: i64, i: usize) -> Option<i64> {
    i64::try_from(i).ok()?.checked_mul(step)?.checked_add(start)
}

fn int_progression<T: TryFrom<i64>>(v: &[i64]) -> Option<(i64, i64)> {
    if v.len() < 2 {
        return None;
    }
    let (start, step) = (v[0], v[1].checked_sub(v[0])?);
    let ok = v
        .iter()
        .enumerate()
        .all(|(i, &x)| int_at(start, step, i) == Some(x) && T::try_from(x).is_ok());
    ok.then_some((start, step))
}

/// Decodes a header block. `newer` is true when the archive's minor version
/// is newer than this build's: trailing bytes are then ignored and unknown
/// enum values are [`Error::Unsupported`] rather than [`Error::Corrupt`].
/// `multi` is true for archives of format 2.1 and later, whose header may
/// continue with the variable table.
pub(crate) fn decode(bytes: &[u8], newer: bool, multi: bool) -> Result<Header> {
    let mut d = Dec {
        c: Cursor::new(bytes, "header"),
        newer,
        multi,
        budget: MAX_PROGRESSION_VALUES,
        dims: Vec::new(),
    };
    let shape = d.shape()?;
    let bound = d.bound()?;
    let codec_config = d.c.string()?;
    let extra = d.c.bytes()?.to_vec();
    let meta = d.meta()?;
    let mut variables = Vec::new();
    if multi && d.c.remaining() > 0 {
        // A variable takes at least 4 (shape) + 9 (bound) + 2 + 1 + 4 bytes.
        let n = d.c.count(20)?;
        for _ in 0..n {
            let shape = d.shape()?;
            let bound = d.bound()?;
            let codec_config = d.c.string()?;
            let extra = d.c.bytes()?.to_vec();
            let var = d.var()?;
            variables.push(super::VarHeader {
                var,
                shape,
                bound,
                codec_config,
                extra,
            });
        }
        let mut names: Vec<&str> = std::iter::once(meta.var.name.as_str())
            .chain(variables.iter().map(|v| v.var.name.as_str()))
            .collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(d
                .c
                .corrupt("two variables of the archive have the same name"));
        }
    }
    if d.c.remaining() > 0 && !newer {
        return Err(d.c.corrupt(format!(
            "{} unexpected bytes after the header fields",
            d.c.remaining()
        )));
    }
    Ok(Header {
        meta,
        shape,
        bound,
        codec_config,
        extra,
        variables,
    })
}

struct Dec<'a> {
    c: Cursor<'a>,
    newer: bool,
    /// Format 2.1 or later: the variable table and the per-level bounds.
    multi: bool,
    budget: u64,
    dims: Vec<String>,
}

impl Dec<'_> {
    fn unknown(&self, what: &str, v: u8) -> Error {
        if self.newer {
            Error::Unsupported(format!(
                "header uses {what} {v:#04x}, from a newer format version than this reader's {}.{}",
                super::FORMAT_VERSION.0,
                super::FORMAT_VERSION.1
            ))
        } else {
            self.c.corrupt(format!("invalid {what} {v:#04x}"))
        }
    }

    fn shape(&mut self) -> Result<Shape> {
        let s = Shape::new(
            self.c.usize()?,
            self.c.usize()?,
            self.c.usize()?,
            self.c.usize()?,
        );
        if s.frames > u32::MAX as usize {
            return Err(self
                .c
                .corrupt(format!("{} frames exceed the format's 2^32 - 1", s.frames)));
        }
        s.checked_len()
            .map_err(|_| self.c.corrupt(format!("shape {s:?} overflows")))?;
        Ok(s)
    }

    fn bound(&mut self) -> Result<Bound> {
        let tag = self.c.u8()?;
        let v = self.c.f64()?;
        match tag {
            B_NRMSE => Ok(Bound::Nrmse(v)),
            B_MAX_ABS => Ok(Bound::MaxAbs(v)),
            B_MAX_REL => Ok(Bound::MaxRel(v)),
            B_RMSE => Ok(Bound::Rmse(v)),
            B_NRMSE_LEVEL if self.multi => Ok(Bound::NrmseLevel(v)),
            B_MAX_REL_LEVEL if self.multi => Ok(Bound::MaxRelLevel(v)),
            B_PW_REL if self.multi => Ok(Bound::PwRel(v)),
            B_SPREAD if self.multi => Ok(Bound::Spread(v)),
            t => Err(self.unknown("bound kind", t)),
        }
    }

    fn dtype(&mut self) -> Result<DType> {
        Ok(match self.c.u8()? {
            T_I8 => DType::I8,
            T_U8 => DType::U8,
            T_I16 => DType::I16,
            T_U16 => DType::U16,
            T_I32 => DType::I32,
            T_U32 => DType::U32,
            T_I64 => DType::I64,
            T_U64 => DType::U64,
            T_F32 => DType::F32,
            T_F64 => DType::F64,
            T_TEXT => DType::Char,
            t => return Err(self.unknown("type code", t)),
        })
    }

    fn dim_ref(&mut self) -> Result<String> {
        match self.c.varint()? {
            0 => self.c.string(),
            k => match self.dims.get((k - 1) as usize) {
                Some(n) => Ok(n.clone()),
                None => Err(self.c.corrupt(format!(
                    "dim reference {k} but only {} dims",
                    self.dims.len()
                ))),
            },
        }
    }

    fn dim_refs(&mut self) -> Result<Vec<String>> {
        let n = self.c.count(1)?;
        (0..n).map(|_| self.dim_ref()).collect()
    }

    fn meta(&mut self) -> Result<DatasetMeta> {
        let n = self.c.count(2)?;
        let mut dims = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.c.string()?;
            let v = self.c.varint()?;
            let len = usize::try_from(v >> 1)
                .map_err(|_| self.c.corrupt("dim length does not fit this machine"))?;
            self.dims.push(name.clone());
            dims.push(Dim {
                name,
                len,
                unlimited: v & 1 == 1,
            });
        }
        let global_attrs = self.attrs()?;
        let n = self.c.count(5)?;
        let mut aux_vars = Vec::with_capacity(n);
        for _ in 0..n {
            aux_vars.push(self.aux()?);
        }
        let var = self.var()?;
        Ok(DatasetMeta {
            dims,
            global_attrs,
            aux_vars,
            var,
        })
    }

    fn aux(&mut self) -> Result<AuxVar> {
        let name = self.c.string()?;
        let dims = self.dim_refs()?;
        let dtype = self.dtype()?;
        let attrs = self.attrs()?;
        let data = self.coord()?;
        Ok(AuxVar {
            name,
            dims,
            dtype,
            attrs,
            data,
        })
    }

    fn var(&mut self) -> Result<VarMeta> {
        let name = self.c.string()?;
        let dims = self.dim_refs()?;
        let frame_dims = self.c.usize()?;
        let level_dim = match self.c.u8()? {
            0 => None,
            1 => Some(self.dim_ref()?),
            t => return Err(self.c.corrupt(format!("invalid level-dim flag {t}"))),
        };
        let lat_dim = self.dim_ref()?;
        let lon_dim = self.dim_ref()?;
        let dtype = self.dtype()?;
        let attrs = self.attrs()?;
        Ok(VarMeta {
            name,
            layout: VarLayout {
                dims,
                frame_dims,
                level_dim,
                lat_dim,
                lon_dim,
            },
            dtype,
            attrs,
        })
    }

    fn attrs(&mut self) -> Result<Vec<Attr>> {
        let n = self.c.count(3)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.c.string()?;
            let tag = self.c.u8()?;
            let value = match tag {
                T_TEXT => AttrValue::Text(self.c.string()?),
                T_I8 => AttrValue::I8(self.raw(i8::from_le_bytes)?),
                T_U8 => AttrValue::U8(self.raw(u8::from_le_bytes)?),
                T_I16 => AttrValue::I16(self.raw(i16::from_le_bytes)?),
                T_U16 => AttrValue::U16(self.raw(u16::from_le_bytes)?),
                T_I32 => AttrValue::I32(self.raw(i32::from_le_bytes)?),
                T_U32 => AttrValue::U32(self.raw(u32::from_le_bytes)?),
                T_I64 => AttrValue::I64(self.raw(i64::from_le_bytes)?),
                T_U64 => AttrValue::U64(self.raw(u64::from_le_bytes)?),
                T_F32 => AttrValue::F32(self.raw(f32::from_le_bytes)?),
                T_F64 => AttrValue::F64(self.raw(f64::from_le_bytes)?),
                t => return Err(self.unknown("attribute type code", t)),
            };
            out.push(Attr { name, value });
        }
        Ok(out)
    }

    /// A varint count then that many little-endian values of `N` bytes. The
    /// bytes are taken (and so bounded by what is left) before allocating.
    fn raw<T, const N: usize>(&mut self, from: fn([u8; N]) -> T) -> Result<Vec<T>> {
        let n = self.c.varint()?;
        let bytes = n
            .checked_mul(N as u64)
            .ok_or_else(|| self.c.corrupt("array length overflows"))?;
        let b = self.c.take(bytes)?;
        Ok(b.chunks_exact(N)
            .map(|ch| {
                let mut a = [0u8; N];
                a.copy_from_slice(ch);
                from(a)
            })
            .collect())
    }

    /// The length of a progression, charged to the header's budget.
    fn prog_len(&mut self) -> Result<usize> {
        let n = self.c.varint()?;
        if n > self.budget {
            return Err(self.c.corrupt(format!(
                "progression of {n} values exceeds the {MAX_PROGRESSION_VALUES} a header may expand to"
            )));
        }
        self.budget -= n;
        usize::try_from(n).map_err(|_| self.c.corrupt("progression too long for this machine"))
    }

    fn coord(&mut self) -> Result<CoordData> {
        let tag = self.c.u8()?;
        let (code, enc) = (tag & 0x0F, tag >> 4);
        match enc {
            ENC_RAW => Ok(match code {
                T_F64 => CoordData::F64(self.raw(f64::from_le_bytes)?),
                T_F32 => CoordData::F32(self.raw(f32::from_le_bytes)?),
                T_I64 => CoordData::I64(self.raw(i64::from_le_bytes)?),
                T_I32 => CoordData::I32(self.raw(i32::from_le_bytes)?),
                T_I16 => CoordData::I16(self.raw(i16::from_le_bytes)?),
                T_I8 => CoordData::I8(self.raw(i8::from_le_bytes)?),
                T_U8 => CoordData::U8(self.raw(u8::from_le_bytes)?),
                T_TEXT => CoordData::Text(self.c.bytes()?.to_vec()),
                _ => return Err(self.unknown("coordinate tag", tag)),
            }),
            ENC_PROGRESSION => match code {
                T_F64 | T_F32 => {
                    let n = self.prog_len()?;
                    let (a, s) = (self.c.f64()?, self.c.f64()?);
                    Ok(if code == T_F64 {
                        CoordData::F64((0..n).map(|i| float_at(a, s, i)).collect())
                    } else {
                        CoordData::F32((0..n).map(|i| float_at(a, s, i) as f32).collect())
                    })
                }
                T_I64 => Ok(CoordData::I64(self.int_prog()?)),
                T_I32 => Ok(CoordData::I32(self.int_prog()?)),
                T_I16 => Ok(CoordData::I16(self.int_prog()?)),
                T_I8 => Ok(CoordData::I8(self.int_prog()?)),
                T_U8 => Ok(CoordData::U8(self.int_prog()?)),
                _ => Err(self.unknown("coordinate tag", tag)),
            },
            ENC_DELTA => match code {
                T_F64 => Ok(CoordData::F64(self.deltas(|i| {
                    let x = i as f64;
                    (x as i128 == i as i128).then_some(x)
                })?)),
                T_F32 => Ok(CoordData::F32(self.deltas(|i| {
                    let x = i as f32;
                    (x as i128 == i as i128).then_some(x)
                })?)),
                T_I64 => Ok(CoordData::I64(self.deltas(Some)?)),
                T_I32 => Ok(CoordData::I32(self.deltas(|i| i32::try_from(i).ok())?)),
                T_I16 => Ok(CoordData::I16(self.deltas(|i| i16::try_from(i).ok())?)),
                T_I8 => Ok(CoordData::I8(self.deltas(|i| i8::try_from(i).ok())?)),
                T_U8 => Ok(CoordData::U8(self.deltas(|i| u8::try_from(i).ok())?)),
                _ => Err(self.unknown("coordinate tag", tag)),
            },
            _ => Err(self.unknown("coordinate tag", tag)),
        }
    }

    /// A varint count then that many zigzag varint deltas; value `i` is the
    /// sum of deltas `0..=i`, which `cast` must represent exactly.
    fn deltas<T>(&mut self, cast: impl Fn(i64) -> Option<T>) -> Result<Vec<T>> {
        let n = self.c.count(1)?;
        let mut out = Vec::with_capacity(n);
        let mut acc = 0i64;
        for _ in 0..n {
            let d = self.c.zigzag()?;
            acc = acc
                .checked_add(d)
                .ok_or_else(|| self.c.corrupt("delta-coded values overflow"))?;
            out.push(
                cast(acc).ok_or_else(|| self.c.corrupt("delta-coded value outside its type"))?,
            );
        }
        Ok(out)
    }

    fn int_prog<T: TryFrom<i64>>(&mut self) -> Result<Vec<T>> {
        let n = self.prog_len()?;
        let (a, s) = (self.c.zigzag()?, self.c.zigzag()?);
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let v = int_at(a, s, i)
                .and_then(|v| T::try_from(v).ok())
                .ok_or_else(|| {
                    self.c
                        .corrupt("integer progression leaves its type's range")
                })?;
            out.push(v);
        }
        Ok(out)
    }
}
