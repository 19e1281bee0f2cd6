//! `hiha._hiha`: the Python extension module of hiha (pyo3 + numpy).
//!
//! A thin layer over `hiha_core`'s public API; the pure-Python package
//! `hiha` (python/src/hiha) wraps it. Rules kept here:
//! - coding runs with the GIL released ([`Python::detach`]);
//! - every core error becomes a Python exception carrying the core's
//!   message ([`to_py_err`]), and a panic is caught before it reaches the
//!   boundary ([`guarded`]) and raised as `hiha.InternalError`;
//! - float64 input is coded as float32 with the bound tightened by the
//!   rounding to float32, then verified on every element against the
//!   float64 values the caller passed ([`encode`]).
//!
//! Modules, each importing only those listed before it: `errors` (Python
//! exceptions of the core's errors, the panic guard), `bounds` (the bound
//! grammar shared with the CLI), `meta` (metadata dicts), `array` (numpy
//! arrays to fields and back), `archive` (the header with every variable,
//! variable and section look-ups), `file` (`ArchiveFile`, selective reads
//! from disk). This file holds the module's functions and registration.

use std::sync::atomic::Ordering;

use hiha_core::codec::{self, CompressOptions, DecodeOptions, NoProgress};
use hiha_core::field::Field;
use hiha_core::format::ArchiveReader;
use hiha_core::meta::DType;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

mod archive;
mod array;
mod bounds;
mod errors;
mod file;
mod meta;

use archive::*;
use array::*;
use bounds::*;
use errors::*;
use file::*;

/// Encodes a float32 or float64 numpy array into a `.hiha` archive.
///
/// `bound` is a bound of the grammar shared with the CLI
/// (`MODE:VALUE[:per-level]`, e.g. `nrmse:1e-4`, `max-abs:0.5`,
/// `pw-rel:1e-3`). `meta` (optional) is the dataset description
/// `hiha.xarray` builds; without it the array's last two axes are lat/lon,
/// the third-last the level and the others frames. The bound is verified on
/// every element against the values passed (for float64, against the
/// float64 values). `fortran` records that the caller's array was
/// Fortran-ordered (decoding then returns that order).
#[pyfunction]
#[pyo3(signature = (array, bound, chunk_frames=None, meta=None, fortran=false))]
fn encode<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyAny>,
    bound: &str,
    chunk_frames: Option<usize>,
    meta: Option<&Bound<'py, PyDict>>,
    fortran: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    check_chunk_frames(chunk_frames)?;
    let p = prepare(array, bound, meta, fortran)?;
    let bytes = py.detach(move || encode_prepared(p, chunk_frames))?;
    Ok(PyBytes::new(py, &bytes))
}

/// Encodes several variables of one dataset into one multi-variable archive
/// (format 2.1; one variable gives a plain one-variable archive). `items`
/// is a sequence of `(array, bound, meta)`, the metas sharing their dims,
/// global attributes and auxiliary variables (`hiha.xarray.to_hiha` builds
/// them). Each variable is coded and verified on its own, with its own
/// bound, one at a time (so that at most one variable's working memory is
/// held besides the inputs).
#[pyfunction]
#[pyo3(signature = (items, chunk_frames=None))]
fn encode_many<'py>(
    py: Python<'py>,
    items: &Bound<'py, PyAny>,
    chunk_frames: Option<usize>,
) -> PyResult<Bound<'py, PyBytes>> {
    check_chunk_frames(chunk_frames)?;
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for item in items.try_iter()? {
        let item = item?;
        let (array, bound, meta): (Bound<'py, PyAny>, String, Bound<'py, PyDict>) =
            item.extract()?;
        let p = prepare(&array, &bound, Some(&meta), false)?;
        parts.push(py.detach(move || encode_prepared(p, chunk_frames))?);
    }
    if parts.is_empty() {
        return Err(PyValueError::new_err("no variables to encode"));
    }
    let bytes = py.detach(|| {
        core(|| {
            let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            hiha_core::format::merge(&slices)
        })
    })?;
    Ok(PyBytes::new(py, &bytes))
}

/// Decodes an archive (bytes or a uint8 array) to a numpy array; `frames`
/// `(a, b)` decodes only flattened frames `a..b`, reading only the
/// sections they need. `variable` names the variable of a multi-variable
/// archive (required there; optional for a one-variable archive).
#[pyfunction]
#[pyo3(signature = (data, frames=None, variable=None))]
fn decode<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    frames: Option<(usize, usize)>,
    variable: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let data = Data::from_py(data)?;
    let frames = frame_range(frames)?;
    let bytes = data.slice();
    let (field, meta) = py.detach(|| {
        core(|| match &variable {
            Some(v) => codec::decompress_variable(bytes, v, frames, &DecodeOptions::default()),
            None => codec::decompress(bytes, frames),
        })
    })?;
    field_to_py(py, field, &meta)
}

/// The names of the variables an archive holds, in archive order.
#[pyfunction]
fn variables(data: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    let data = Data::from_py(data)?;
    core(|| codec::variables(data.slice()))
}

/// The archive's header (shape, bound, dims, coordinates, attributes,
/// sections, and every variable's description) without decoding any values.
#[pyfunction]
fn header<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let data = Data::from_py(data)?;
    let bytes = data.slice();
    let reader = core(|| ArchiveReader::open(bytes))?;
    header_to_py(py, &reader)
}

/// The indices (in the archive) of the sections needed to decode flattened
/// frames `a..b` of `variable` (the only variable when `None`).
#[pyfunction]
#[pyo3(signature = (data, a, b, variable=None))]
fn sections_for_frames(
    data: &Bound<'_, PyAny>,
    a: u32,
    b: u32,
    variable: Option<String>,
) -> PyResult<Vec<usize>> {
    let data = Data::from_py(data)?;
    let bytes = data.slice();
    let reader = core(|| ArchiveReader::open(bytes))?;
    let k = variable_k(&reader, variable.as_deref())?;
    let view = core(|| reader.for_variable(k))?;
    let idx = core(|| view.sections_for_frames(a..b))?;
    Ok(global_indices(&reader, &view, &idx))
}

/// Benchmark aid (scripts/bench_python.py): times `repeats` runs of the
/// core's own `compress` and `decompress` on a float32 array, from a field
/// already built, without any Python in the timed region. Returns the
/// encode and decode seconds of each run and the archive size.
#[pyfunction]
#[pyo3(signature = (array, bound, repeats=3))]
fn time_core(
    py: Python<'_>,
    array: &Bound<'_, PyAny>,
    bound: &str,
    repeats: usize,
) -> PyResult<(Vec<f64>, Vec<f64>, usize)> {
    let bound = parse_spec(bound)?;
    let (shape, values, _) = guarded(|| read_array(array))?;
    let Values::F32(values) = values else {
        return Err(PyTypeError::new_err("time_core takes float32 arrays"));
    };
    let meta = plain_meta(&shape, DType::F32, false)?;
    let fshape = field_shape(&meta, &shape)?;
    py.detach(move || {
        guarded(|| {
            let field = Field::new(fshape, values, None).map_err(to_py_err)?;
            let opts = CompressOptions::new(bound);
            let (mut enc, mut dec, mut size) = (Vec::new(), Vec::new(), 0);
            for _ in 0..repeats.max(1) {
                let t = std::time::Instant::now();
                let (bytes, _) =
                    codec::compress(&field, &meta, &opts, &NoProgress).map_err(to_py_err)?;
                enc.push(t.elapsed().as_secs_f64());
                let t = std::time::Instant::now();
                let back = codec::decompress(&bytes, None).map_err(to_py_err)?;
                dec.push(t.elapsed().as_secs_f64());
                drop(back);
                size = bytes.len();
            }
            Ok((enc, dec, size))
        })
    })
}

/// `(sections, bytes)` that [`ArchiveFile`]s have read from disk in this
/// process since the last [`reset_io_stats`].
#[pyfunction]
fn io_stats() -> (u64, u64) {
    (
        SECTIONS_LOADED.load(Ordering::Relaxed),
        BYTES_LOADED.load(Ordering::Relaxed),
    )
}

#[pyfunction]
fn reset_io_stats() {
    SECTIONS_LOADED.store(0, Ordering::Relaxed);
    BYTES_LOADED.store(0, Ordering::Relaxed);
}

/// Opt-in: glibc malloc thresholds that keep freed chunk-sized blocks for
/// reuse (the CLI sets them at start; see the hiha-malloc crate). `true`
/// when glibc took them.
#[pyfunction]
fn tune_malloc() -> bool {
    hiha_malloc::tune()
}

#[pymodule]
fn _hiha(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    m.add_function(wrap_pyfunction!(encode_many, m)?)?;
    m.add_function(wrap_pyfunction!(bounds::parse_bound, m)?)?;
    m.add_function(wrap_pyfunction!(bounds::resolve_bounds, m)?)?;
    m.add_function(wrap_pyfunction!(variables, m)?)?;
    m.add_function(wrap_pyfunction!(time_core, m)?)?;
    m.add_function(wrap_pyfunction!(header, m)?)?;
    m.add_function(wrap_pyfunction!(sections_for_frames, m)?)?;
    m.add_function(wrap_pyfunction!(io_stats, m)?)?;
    m.add_function(wrap_pyfunction!(reset_io_stats, m)?)?;
    m.add_function(wrap_pyfunction!(tune_malloc, m)?)?;
    m.add_class::<ArchiveFile>()?;
    m.add("CorruptArchiveError", py.get_type::<CorruptArchiveError>())?;
    m.add(
        "UnsupportedArchiveError",
        py.get_type::<UnsupportedArchiveError>(),
    )?;
    m.add("BoundViolatedError", py.get_type::<BoundViolatedError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    m.add("FORMAT_VERSION", hiha_core::format::FORMAT_VERSION)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
