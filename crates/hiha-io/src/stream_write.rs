//! Writing NetCDF-3 output a few frames at a time (streaming
//! decompression): the header, the auxiliary variables and the file's
//! length first, then each data variable's frames where they belong, as
//! they are decoded. The file is byte for byte what [`crate::write_netcdf`]
//! writes with [`crate::OutputFormat::Nc3`] (the `history` time stamp
//! aside).
//!
//! How a variable is written (float32 and its fill value, or re-packed)
//! must be in the header, before any value is known. [`Nc3Stream::start`]
//! decides it from the range the decoded values are clamped into (the
//! archive's `value_min`/`value_max`): a fill value outside it cannot be
//! taken by a value, a lattice index range inside the type, the valid
//! range and clear of fill values holds every value. When the range cannot
//! tell (a declared fill value inside it, say), `start` answers `None` and
//! the caller writes the output in memory instead; a piece that breaks the
//! plan (NaN data in a re-packed variable) makes
//! [`Nc3Stream::write_frames`] answer `false`, and the caller starts over
//! in memory. Either way the output is what the in-memory writer writes.

use std::fs::File;
use std::path::Path;

use hiha_core::field::{is_missing_marker, Field, Packing, Shape, MISSING};
use hiha_core::meta::{Attr, DatasetMeta};

use crate::cf;
use crate::error::{IoError, Result};
use crate::nc3::{Layout, OutVar, VarData};
use crate::prepared::{VarEncoding, VarValues};
use crate::write::{
    choose_fill_by, nc3_file, output_global_attrs, output_var_attrs, repack, var_dimids, Written,
};

/// A data variable to write a few frames at a time.
#[derive(Debug, Clone, Copy)]
pub struct StreamVar<'a> {
    /// Its metadata, with the dims of the frames written.
    pub meta: &'a DatasetMeta,
    /// The shape of everything written.
    pub shape: Shape,
    /// The lattice the encoder verified for re-packing (as
    /// [`crate::OutputVar::repack`]).
    pub repack: Option<Packing>,
    /// The interval every valid value lies in.
    pub range: (f64, f64),
}

enum Plan {
    F32 { fill: f32 },
    Packed { p: Packing },
}

/// A NetCDF-3 file being written frame by frame (see the module docs).
pub struct Nc3Stream {
    layout: Layout,
    path: String,
    plans: Vec<Plan>,
    /// Per data variable: its metadata (variable only) for re-packing, its
    /// index among the file's variables, its frame length and the elements
    /// written so far and due.
    metas: Vec<DatasetMeta>,
    index: Vec<usize>,
    frame_len: Vec<usize>,
    written: Vec<usize>,
    due: Vec<usize>,
    encodings: Vec<(String, VarEncoding)>,
}

impl Nc3Stream {
    /// Writes the header, the auxiliary variables and the file's length
    /// into `f` (an empty file), or answers `None` when how a variable is
    /// written cannot be decided from its range alone (nothing is written).
    pub fn start(f: &mut File, path: &Path, vars: &[StreamVar]) -> Result<Option<Self>> {
        let shown = path.display().to_string();
        let Some(first) = vars.first() else {
            return Err(IoError::BadShape("no variables to write".into()));
        };
        let meta = first.meta;
        let mut plans = Vec::with_capacity(vars.len());
        let mut attrs: Vec<Vec<Attr>> = Vec::with_capacity(vars.len());
        let mut encodings = Vec::with_capacity(vars.len());
        let mut dimids = Vec::with_capacity(vars.len());
        let metas: Vec<&DatasetMeta> = vars.iter().map(|v| v.meta).collect();
        crate::write::check_sharing(&metas)?;
        for v in vars {
            let m = v.meta;
            dimids.push(var_dimids(m, &v.shape, true)?);
            let Some((plan, a, e)) = plan_var(v) else {
                return Ok(None);
            };
            plans.push(plan);
            attrs.push(a);
            encodings.push((m.var.name.clone(), e));
        }
        for a in &meta.aux_vars {
            crate::write::dim_ids(meta, &a.dims)?;
        }
        let described: Vec<(&str, &VarEncoding)> =
            encodings.iter().map(|(n, e)| (n.as_str(), e)).collect();
        let global_attrs = output_global_attrs(meta, &described);
        let mut data_vars = Vec::with_capacity(vars.len());
        let mut due = Vec::with_capacity(vars.len());
        for (k, v) in vars.iter().enumerate() {
            let n = v.shape.checked_len()?;
            due.push(n);
            data_vars.push(OutVar {
                name: &v.meta.var.name,
                dimids: dimids[k].clone(),
                dtype: match plans[k] {
                    Plan::F32 { .. } => hiha_core::meta::DType::F32,
                    Plan::Packed { .. } => v.meta.var.dtype,
                },
                attrs: &attrs[k],
                data: VarData::Deferred(n),
            });
        }
        let werr = |reason: String| IoError::Write {
            path: shown.clone(),
            reason,
        };
        let file = nc3_file(meta, &global_attrs, data_vars).map_err(werr)?;
        let aux = meta.aux_vars.len();
        let layout = file.write_streamed(f).map_err(werr)?;
        Ok(Some(Self {
            layout,
            path: shown.clone(),
            plans,
            metas: vars
                .iter()
                .map(|v| DatasetMeta {
                    dims: Vec::new(),
                    global_attrs: Vec::new(),
                    aux_vars: Vec::new(),
                    var: v.meta.var.clone(),
                })
                .collect(),
            index: (0..vars.len()).map(|k| aux + k).collect(),
            frame_len: vars.iter().map(|v| v.shape.frame_len()).collect(),
            written: vec![0; vars.len()],
            due,
            encodings,
        }))
    }

    /// Writes `piece` as frames `first..` (of those written) of data
    /// variable `k`. `false` when the piece breaks what the header says
    /// (see the module docs): the file is then not usable.
    pub fn write_frames(
        &mut self,
        f: &mut File,
        k: usize,
        first: usize,
        piece: &Field,
    ) -> Result<bool> {
        let werr = |reason: String| IoError::Write {
            path: self.path.clone(),
            reason,
        };
        let fl = *self
            .frame_len
            .get(k)
            .ok_or_else(|| werr(format!("no data variable {k}")))?;
        if piece.shape.frame_len() != fl || piece.values.len() != piece.shape.frames * fl {
            return Err(werr(format!(
                "frames of {} values given for frames of {fl}",
                piece.shape.frame_len()
            )));
        }
        let start = first
            .checked_mul(fl)
            .ok_or_else(|| werr("frame index overflows".into()))?;
        let packed;
        let vals: Vec<f32>;
        let data = match &self.plans[k] {
            Plan::F32 { fill } => {
                vals = piece
                    .values
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        if piece.is_missing(i) && is_missing_marker(v) {
                            *fill
                        } else {
                            v
                        }
                    })
                    .collect();
                VarData::F32(&vals)
            }
            Plan::Packed { p } => match repack(piece, &self.metas[k], *p) {
                Ok((VarValues::Packed { data, .. }, _, _)) => {
                    packed = data;
                    VarData::Coord(&packed)
                }
                _ => return Ok(false),
            },
        };
        self.layout
            .write_piece(f, self.index[k], start, &data)
            .map_err(werr)?;
        self.written[k] += piece.values.len();
        Ok(true)
    }

    /// Checks that every variable was written whole; what was written.
    pub fn finish(self) -> Result<Written> {
        for (k, (w, d)) in self.written.iter().zip(&self.due).enumerate() {
            if w != d {
                return Err(IoError::Write {
                    path: self.path.clone(),
                    reason: format!(
                        "variable '{}': {w} of its {d} values were written",
                        self.encodings[k].0
                    ),
                });
            }
        }
        Ok(Written {
            bytes: self.layout.total,
            vars: self.encodings,
        })
    }
}

/// How variable `v` is written, decided from its range (see the module
/// docs): the plan, its attributes and its encoding; `None` when the range
/// cannot tell.
fn plan_var(v: &StreamVar) -> Option<(Plan, Vec<Attr>, VarEncoding)> {
    let (lo, hi) = v.range;
    if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
        return None;
    }
    let meta = v.meta;
    if let Some(p) = v.repack {
        // Every valid value packs between the range's ends (rounding to the
        // nearest lattice index is monotonic); `repack` checks the ends and
        // the attributes, with a missing element so that it asks for the
        // fill value a missing element would need.
        let probe = Field {
            shape: Shape::new(1, 1, 1, 3),
            values: vec![lo as f32, hi as f32, MISSING],
            missing: Some(vec![false, false, true]),
            packing: None,
        };
        let (_, attrs, multiple) = repack(&probe, meta, p).ok()?;
        let (a, b) = (p.index(lo as f32)?, p.index(hi as f32)?);
        let (a, b) = (a.min(b), a.max(b));
        let dtype = meta.var.dtype;
        let unsigned = cf::is_unsigned(&meta.var.attrs, dtype);
        let on_fill = cf::missing_markers(&attrs)
            .into_iter()
            .map(|x| {
                if unsigned {
                    cf::as_unsigned(x, dtype)
                } else {
                    x
                }
            })
            .any(|m| m >= a && m <= b);
        if on_fill {
            return None;
        }
        return Some((
            Plan::Packed { p },
            attrs,
            VarEncoding::Packed { dtype, multiple },
        ));
    }
    let mut attrs = output_var_attrs(meta);
    let mut taken = |f: f32| {
        let x = f as f64;
        if f.is_nan() || x < lo || x > hi {
            Some(false)
        } else {
            None
        }
    };
    let fill = choose_fill_by(meta, &mut attrs, &mut taken)?;
    Some((
        Plan::F32 { fill },
        attrs,
        VarEncoding::Float32 { reason: None },
    ))
}
