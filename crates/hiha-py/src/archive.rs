//! Archives as Python sees them: the header with every variable, and
//! which variable and sections a request names.

use hiha_core::format::{ArchiveReader, SectionKind};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::bounds::*;
use crate::errors::*;
use crate::meta::*;

/// The index of variable `variable` of the archive, or of its only
/// variable when `None`; ValueError naming the variables otherwise.
pub(crate) fn variable_k(reader: &ArchiveReader<'_>, variable: Option<&str>) -> PyResult<usize> {
    let names = || reader.header().variable_names().join(", ");
    match variable {
        Some(v) => reader.variable_index(v).ok_or_else(|| {
            PyValueError::new_err(format!(
                "the archive has no variable '{v}'; it holds {}",
                names()
            ))
        }),
        None if reader.variable_count() == 1 => Ok(0),
        None => Err(PyValueError::new_err(format!(
            "the archive holds {} variables ({}); name the one to decode with variable=",
            reader.variable_count(),
            names()
        ))),
    }
}

/// Maps the section indices of a [`ArchiveReader::for_variable`] view to
/// the indices of the whole archive (sections are told apart by offset).
pub(crate) fn global_indices(
    whole: &ArchiveReader<'_>,
    view: &ArchiveReader<'_>,
    idx: &[usize],
) -> Vec<usize> {
    let by_offset: std::collections::HashMap<u64, usize> = whole
        .sections()
        .iter()
        .enumerate()
        .map(|(i, s)| (s.offset, i))
        .collect();
    idx.iter()
        .filter_map(|&i| view.sections().get(i))
        .filter_map(|s| by_offset.get(&s.offset).copied())
        .collect()
}

/// The residual sections' frame ranges of a one-variable reader or view.
pub(crate) fn chunks_of(reader: &ArchiveReader<'_>) -> Vec<(u32, u32)> {
    let mut chunks: Vec<(u32, u32)> = reader
        .sections()
        .iter()
        .filter(|s| s.kind == SectionKind::Residual)
        .map(|s| (s.frames.start, s.frames.end))
        .collect();
    chunks.sort_unstable();
    chunks.dedup();
    chunks
}

pub(crate) fn header_to_py<'py>(
    py: Python<'py>,
    reader: &ArchiveReader<'_>,
) -> PyResult<Bound<'py, PyDict>> {
    let h = reader.header();
    let d = PyDict::new(py);
    d.set_item("version", reader.version())?;
    let s = h.shape;
    d.set_item("shape", (s.frames, s.levels, s.lat, s.lon))?;
    d.set_item("bound", bound_parts(&h.bound))?;
    d.set_item("bound_spec", h.bound.spec())?;
    d.set_item("codec_config", &h.codec_config)?;
    meta_to_py(py, &h.meta, &d)?;
    let sections = reader
        .sections()
        .iter()
        .map(|s| (s.kind.name(), s.frames.start, s.frames.end, s.len))
        .collect::<Vec<_>>();
    d.set_item("sections", sections)?;
    // Every variable: its description, shape, bound, chunks (the frame
    // ranges of its residual sections) and sections (archive indices).
    let vars = PyList::empty(py);
    let mut chunks0 = Vec::new();
    for k in 0..reader.variable_count() {
        let view = core(|| reader.for_variable(k))?;
        let vh = view.header();
        let v = var_to_py(py, &vh.meta.var)?;
        let s = vh.shape;
        v.set_item("shape", (s.frames, s.levels, s.lat, s.lon))?;
        v.set_item("bound", bound_parts(&vh.bound))?;
        v.set_item("bound_spec", vh.bound.spec())?;
        v.set_item("codec_config", &vh.codec_config)?;
        let chunks = chunks_of(&view);
        if k == 0 {
            chunks0 = chunks.clone();
        }
        v.set_item("chunks", chunks)?;
        let all: Vec<usize> = (0..view.sections().len()).collect();
        v.set_item("sections", global_indices(reader, &view, &all))?;
        vars.append(v)?;
    }
    d.set_item("variables", vars)?;
    d.set_item("chunks", chunks0)?;
    Ok(d)
}
