//! Joining one-variable archives into a multi-variable archive (format 2.1),
//! and taking one variable out again. Both are container operations: the
//! section payloads are copied, never decoded or re-coded.

use super::{ArchiveReader, ArchiveWriter, Header, VarHeader};
use crate::error::{Error, Result};

/// Equal, counting NaN equal to NaN: xarray writes `_FillValue = NaN` on
/// float coordinates, and NaN is never `==` to itself. (A NaN's payload is
/// not compared; the first archive's is kept.)
fn same<T: PartialEq + std::fmt::Debug>(a: &T, b: &T) -> bool {
    a == b || format!("{a:?}") == format!("{b:?}")
}

/// Joins one-variable archives of the same dataset into one archive whose
/// variable `k` is `parts[k]`. The parts must share their dims, global
/// attributes and auxiliary variables (what [`Header::variable`] shares),
/// and have distinct variable names. One part gives a one-variable archive
/// equal to it.
pub fn merge(parts: &[&[u8]]) -> Result<Vec<u8>> {
    let readers = parts
        .iter()
        .map(|p| ArchiveReader::open(p))
        .collect::<Result<Vec<_>>>()?;
    for (k, r) in readers.iter().enumerate() {
        if r.variable_count() != 1 {
            return Err(Error::InvalidInput(format!(
                "archive {k} to merge already holds {} variables",
                r.variable_count()
            )));
        }
    }
    let headers: Vec<&Header> = readers.iter().map(|r| r.header()).collect();
    let header = merged_header(&headers)?;
    let kinds = kinds_of(&readers);
    let mut w = ArchiveWriter::new_with(&header, &kinds)?;
    for (k, r) in readers.iter().enumerate() {
        copy_sections(r, &mut w, k as u32)?;
    }
    w.finish()
}

/// The header of the archive whose variable `k` is the one-variable header
/// `headers[k]` (what [`merge`] writes; the streaming encoder joins its
/// variables with it too, so both write the same bytes).
pub(crate) fn merged_header(headers: &[&Header]) -> Result<Header> {
    let first = headers
        .first()
        .ok_or_else(|| Error::InvalidInput("no archives to merge".into()))?;
    let mut header: Header = (*first).clone();
    for (k, h) in headers.iter().enumerate() {
        let (a, b) = (&header.meta, &h.meta);
        let what = if a.dims != b.dims {
            Some("dims")
        } else if !same(&a.global_attrs, &b.global_attrs) {
            Some("global attributes")
        } else if !same(&a.aux_vars, &b.aux_vars) {
            Some("coordinates and other kept variables")
        } else {
            None
        };
        if let Some(what) = what {
            return Err(Error::InvalidInput(format!(
                "variable '{}' cannot join '{}' in one archive: their {what} differ",
                h.meta.var.name, header.meta.var.name
            )));
        }
        if k > 0 {
            header.variables.push(VarHeader {
                var: h.meta.var.clone(),
                shape: h.shape,
                bound: h.bound,
                codec_config: h.codec_config.clone(),
                extra: h.extra.clone(),
            });
        }
    }
    Ok(header)
}

/// The one-variable archive of variable `k` of `bytes`: the shared metadata
/// with that variable's description, and its sections.
pub fn extract_variable(bytes: &[u8], k: usize) -> Result<Vec<u8>> {
    let view = ArchiveReader::open(bytes)?.for_variable(k)?;
    let kinds = kinds_of(std::slice::from_ref(&view));
    let mut w = ArchiveWriter::new_with(view.header(), &kinds)?;
    copy_sections(&view, &mut w, 0)?;
    w.finish()
}

/// The section kinds the readers hold (so that the written archive's minor
/// version defines them).
fn kinds_of(readers: &[ArchiveReader]) -> Vec<super::SectionKind> {
    let mut kinds: Vec<_> = readers
        .iter()
        .flat_map(|r| r.sections().iter().map(|s| s.kind))
        .collect();
    kinds.dedup();
    kinds
}

/// Copies every section of a one-variable reader (or view) as variable
/// `variable` of `w`, renumbering dependencies.
fn copy_sections(r: &ArchiveReader, w: &mut ArchiveWriter, variable: u32) -> Result<()> {
    let base = w.section_count();
    for (i, s) in r.sections().iter().enumerate() {
        let payload = r.read(i)?;
        let dep = s
            .depends_on
            .map(|d| {
                base.checked_add(d)
                    .ok_or_else(|| Error::InvalidInput("too many sections".into()))
            })
            .transpose()?;
        w.add_variable_section(variable, s.kind, s.frames.clone(), dep, payload)?;
    }
    Ok(())
}
