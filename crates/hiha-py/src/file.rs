//! `ArchiveFile`: a `.hiha` file opened for random access, reading from
//! disk only the sections the frames (and the variable) asked for need.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use hiha_core::codec::{self, DecodeOptions};
use hiha_core::format::{ArchiveReader, FOOTER_LEN};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::archive::*;
use crate::array::*;
use crate::errors::*;

/// Sections and bytes [`ArchiveFile`] has read from disk, over the process.
pub(crate) static SECTIONS_LOADED: AtomicU64 = AtomicU64::new(0);
pub(crate) static BYTES_LOADED: AtomicU64 = AtomicU64::new(0);

struct FileState {
    file: File,
    /// The archive's bytes where loaded, zeros elsewhere (a section that
    /// was not loaded fails its CRC if anything tries to use it).
    buf: Vec<u8>,
    loaded: Vec<bool>,
    sections_loaded: u64,
    bytes_loaded: u64,
}

/// A `.hiha` file opened for random access: opening reads the header and
/// the frame index; [`ArchiveFile::read`] reads from disk only the sections
/// the asked frames need, then decodes them.
#[pyclass(frozen, module = "hiha._hiha")]
pub(crate) struct ArchiveFile {
    size: u64,
    state: Mutex<FileState>,
}

fn read_at(file: &mut File, at: u64, out: &mut [u8]) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(out)
}

/// Reads a LEB128 varint (at most 10 bytes).
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &x) in b.iter().take(10).enumerate() {
        v |= u64::from(x & 0x7F).checked_shl(7 * i as u32)?;
        if x & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

impl ArchiveFile {
    fn open_path(path: &str) -> PyResult<Self> {
        let io = |e: std::io::Error| PyOSError::new_err(format!("{path}: {e}"));
        let mut file = File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        let n = usize::try_from(size)
            .map_err(|_| PyValueError::new_err(format!("{path}: file too large")))?;
        let mut buf = vec![0u8; n];
        // Preamble, header and its CRC.
        let pre = n.min(22);
        read_at(&mut file, 0, &mut buf[..pre]).map_err(io)?;
        let head_end = match buf.get(12..pre).and_then(varint) {
            Some((len, k)) => (12 + k as u64).saturating_add(len).saturating_add(4),
            None => size,
        };
        let head_end = head_end.min(size) as usize;
        read_at(&mut file, 0, &mut buf[..head_end]).map_err(io)?;
        // Footer and index.
        if n >= FOOTER_LEN {
            read_at(
                &mut file,
                (n - FOOTER_LEN) as u64,
                &mut buf[n - FOOTER_LEN..],
            )
            .map_err(io)?;
            let len = u32::from_le_bytes([buf[n - 8], buf[n - 7], buf[n - 6], buf[n - 5]]) as usize;
            let start = (n - FOOTER_LEN).saturating_sub(len);
            read_at(&mut file, start as u64, &mut buf[start..n - FOOTER_LEN]).map_err(io)?;
        }
        let sections = core(|| ArchiveReader::open(&buf).map(|r| r.sections().len()))?;
        Ok(Self {
            size,
            state: Mutex::new(FileState {
                file,
                buf,
                loaded: vec![false; sections],
                sections_loaded: 0,
                bytes_loaded: 0,
            }),
        })
    }

    fn lock(&self) -> PyResult<std::sync::MutexGuard<'_, FileState>> {
        self.state
            .lock()
            .map_err(|_| InternalError::new_err("archive file state poisoned by an earlier panic"))
    }
}

/// Loads the sections variable `k` needs for `frames` (all its frames
/// when `None`) from disk into the buffer.
fn load_sections(st: &mut FileState, frames: Option<Range<usize>>, k: usize) -> PyResult<()> {
    let wanted: Vec<(usize, u64, u64)> = {
        let reader = ArchiveReader::open(&st.buf).map_err(to_py_err)?;
        let view = reader.for_variable(k).map_err(to_py_err)?;
        let idx = match frames {
            Some(r) => {
                let a = u32::try_from(r.start).unwrap_or(u32::MAX);
                let b = u32::try_from(r.end).unwrap_or(u32::MAX);
                view.sections_for_frames(a..b).map_err(to_py_err)?
            }
            None => (0..view.sections().len()).collect(),
        };
        global_indices(&reader, &view, &idx)
            .into_iter()
            .filter(|&i| !st.loaded[i])
            .map(|i| {
                let s = &reader.sections()[i];
                (i, s.offset, s.len)
            })
            .collect()
    };
    for (i, off, len) in wanted {
        let (a, b) = (off as usize, (off + len) as usize);
        read_at(&mut st.file, off, &mut st.buf[a..b])
            .map_err(|e| PyOSError::new_err(format!("reading section {i}: {e}")))?;
        st.loaded[i] = true;
        st.sections_loaded += 1;
        st.bytes_loaded += len;
        SECTIONS_LOADED.fetch_add(1, Ordering::Relaxed);
        BYTES_LOADED.fetch_add(len, Ordering::Relaxed);
    }
    Ok(())
}

#[pymethods]
impl ArchiveFile {
    #[new]
    fn new(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        let path = path.to_string_lossy().into_owned();
        py.detach(|| guarded(|| Self::open_path(&path)))
    }

    /// The header, as [`header`] gives it.
    fn header<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let st = self.lock()?;
        let reader = core(|| ArchiveReader::open(&st.buf))?;
        header_to_py(py, &reader)
    }

    /// The names of the archive's variables, in archive order.
    fn variables(&self) -> PyResult<Vec<String>> {
        let st = self.lock()?;
        core(|| codec::variables(&st.buf))
    }

    /// Decodes flattened frames `a..b` (all frames when `None`) of
    /// `variable` (the only one when `None`), reading from disk only the
    /// sections they need that were not read before.
    #[pyo3(signature = (frames=None, variable=None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        frames: Option<(usize, usize)>,
        variable: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let frames = frame_range(frames)?;
        let (field, meta) = py.detach(|| {
            guarded(|| {
                let mut st = self.lock()?;
                let (k, name) = {
                    let reader = ArchiveReader::open(&st.buf).map_err(to_py_err)?;
                    let k = variable_k(&reader, variable.as_deref())?;
                    (k, reader.header().variable_names()[k].to_string())
                };
                load_sections(&mut st, frames.clone(), k)?;
                codec::decompress_variable(&st.buf, &name, frames, &DecodeOptions::default())
                    .map_err(to_py_err)
            })
        })?;
        field_to_py(py, field, &meta)
    }

    /// Size of the file in bytes.
    #[getter]
    fn size(&self) -> u64 {
        self.size
    }

    /// Sections read from disk by this file so far.
    #[getter]
    fn sections_loaded(&self) -> PyResult<u64> {
        Ok(self.lock()?.sections_loaded)
    }

    /// Section payload bytes read from disk by this file so far.
    #[getter]
    fn bytes_loaded(&self) -> PyResult<u64> {
        Ok(self.lock()?.bytes_loaded)
    }
}
