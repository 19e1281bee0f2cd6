//! Writing archives, in memory or streaming.

use std::io::Write;
use std::ops::Range;

use super::wire::put_varint;
use super::{crc32, header, squeeze, Header, SectionKind, END_MAGIC, FORMAT_VERSION, MAGIC};
use crate::error::{Error, Result};

/// Writes a `.hiha` archive: the header when created, each section as it is
/// added, the frame index and footer at [`finish`](Self::finish).
///
/// `ArchiveWriter::new(&header)` writes to memory and `finish` returns the
/// bytes; `ArchiveWriter::to_writer(w, &header)` streams to any
/// [`Write`] (wrap files in a `BufWriter`) and `finish` returns `w`.
#[derive(Debug)]
pub struct ArchiveWriter<W: Write = Vec<u8>> {
    out: W,
    /// Frames of each variable.
    frames: Vec<u64>,
    written: u64,
    /// Index entries so far (the count is prepended at finish).
    entries: Vec<u8>,
    count: u32,
    /// The variable of each section so far.
    variables: Vec<u32>,
    /// The archive's minor version: sections of a kind it does not define
    /// are refused.
    minor: u16,
}

impl ArchiveWriter<Vec<u8>> {
    /// Starts an archive in memory.
    pub fn new(header: &Header) -> Result<Self> {
        Self::to_writer(Vec::new(), header)
    }

    /// Starts an archive in memory that will hold sections of `kinds` (its
    /// minor version is the oldest that defines them too).
    pub fn new_with(header: &Header, kinds: &[SectionKind]) -> Result<Self> {
        Self::to_writer_with(Vec::new(), header, kinds)
    }
}

impl<W: Write> ArchiveWriter<W> {
    /// Starts an archive on `out`, writing its preamble and header now.
    pub fn to_writer(out: W, header: &Header) -> Result<Self> {
        Self::to_writer_with(out, header, &[])
    }

    /// [`to_writer`](Self::to_writer) for an archive that will hold
    /// sections of `kinds`: its minor version is
    /// [`Header::needed_version_with`] those kinds.
    pub fn to_writer_with(mut out: W, header: &Header, kinds: &[SectionKind]) -> Result<Self> {
        if header.shape.frames > u32::MAX as usize {
            return Err(Error::InvalidInput(format!(
                "{} frames exceed the format's limit of 2^32 - 1",
                header.shape.frames
            )));
        }
        header.shape.checked_len()?;
        let mut frames = vec![header.shape.frames as u64];
        for v in &header.variables {
            if v.shape.frames > u32::MAX as usize {
                return Err(Error::InvalidInput(format!(
                    "variable '{}': {} frames exceed the format's limit of 2^32 - 1",
                    v.var.name, v.shape.frames
                )));
            }
            v.shape.checked_len()?;
            frames.push(v.shape.frames as u64);
        }
        let mut names = header.variable_names();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::InvalidInput(format!(
                "two variables named '{}' in one archive",
                w[0]
            )));
        }
        let (major, minor) = header.needed_version_with(kinds);
        let body = squeeze::squeeze(&header::encode(header)?);
        let minor = minor.max(squeeze::coding_minor(&body));
        let mut head = Vec::with_capacity(body.len() + 24);
        head.extend_from_slice(&MAGIC);
        head.extend_from_slice(&major.to_le_bytes());
        head.extend_from_slice(&minor.to_le_bytes());
        put_varint(&mut head, body.len() as u64);
        head.extend_from_slice(&body);
        let crc = crc32(&head);
        head.extend_from_slice(&crc.to_le_bytes());
        out.write_all(&head)?;
        Ok(Self {
            out,
            frames,
            written: head.len() as u64,
            entries: Vec::new(),
            count: 0,
            variables: Vec::new(),
            minor,
        })
    }

    /// Appends a section coding `frames` (which must lie within the header's
    /// frame count; may be empty for a section only reached as a
    /// dependency), optionally depending on an earlier section, and returns
    /// its index.
    pub fn add_section(
        &mut self,
        kind: SectionKind,
        frames: Range<u32>,
        depends_on: Option<u32>,
        payload: &[u8],
    ) -> Result<u32> {
        self.add_variable_section(0, kind, frames, depends_on, payload)
    }

    /// [`add_section`](Self::add_section) for variable `variable` of a
    /// multi-variable archive (its frames are that variable's; a dependency
    /// must be a section of the same variable).
    pub fn add_variable_section(
        &mut self,
        variable: u32,
        kind: SectionKind,
        frames: Range<u32>,
        depends_on: Option<u32>,
        payload: &[u8],
    ) -> Result<u32> {
        let var_frames = *self.frames.get(variable as usize).ok_or_else(|| {
            Error::InvalidInput(format!(
                "no variable {variable}: the header has {}",
                self.frames.len()
            ))
        })?;
        if SectionKind::from_id(kind.id()) != Some(kind) {
            return Err(Error::InvalidInput(format!(
                "section kind {kind} is not defined by format {}.{}",
                FORMAT_VERSION.0, FORMAT_VERSION.1
            )));
        }
        if kind.min_minor() > self.minor {
            return Err(Error::InvalidInput(format!(
                "section kind {kind} needs format {}.{}, and this archive's header was written \
                 as {}.{} (start it with the kinds it will hold)",
                FORMAT_VERSION.0,
                kind.min_minor(),
                FORMAT_VERSION.0,
                self.minor
            )));
        }
        if frames.start > frames.end || frames.end as u64 > var_frames {
            return Err(Error::InvalidInput(format!(
                "section frames {frames:?} do not lie within the variable's {var_frames} frames"
            )));
        }
        let index = self.count;
        if index == u32::MAX {
            return Err(Error::InvalidInput("too many sections".into()));
        }
        let back = match depends_on {
            None => 0,
            Some(d) if d < index && self.variables[d as usize] == variable => (index - d) as u64,
            Some(d) => {
                return Err(Error::InvalidInput(format!(
                    "section {index} may only depend on an earlier section of its variable, not {d}"
                )))
            }
        };
        self.out.write_all(payload)?;
        let e = &mut self.entries;
        e.push(kind.id());
        put_varint(e, variable as u64);
        put_varint(e, frames.start as u64);
        put_varint(e, (frames.end - frames.start) as u64);
        put_varint(e, back);
        put_varint(e, payload.len() as u64);
        e.extend_from_slice(&crc32(payload).to_le_bytes());
        self.written += payload.len() as u64;
        self.count += 1;
        self.variables.push(variable);
        Ok(index)
    }

    /// Sections added so far.
    pub fn section_count(&self) -> u32 {
        self.count
    }

    /// Bytes written so far (preamble, header and section payloads).
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Writes the frame index and footer, flushes, and returns the sink.
    pub fn finish(mut self) -> Result<W> {
        let mut index = Vec::with_capacity(self.entries.len() + 5);
        put_varint(&mut index, self.count as u64);
        index.extend_from_slice(&self.entries);
        let len = u32::try_from(index.len())
            .map_err(|_| Error::InvalidInput("frame index exceeds 4 GiB".into()))?;
        let mut tail = index;
        let crc = crc32(&tail);
        tail.extend_from_slice(&crc.to_le_bytes());
        tail.extend_from_slice(&len.to_le_bytes());
        tail.extend_from_slice(&END_MAGIC);
        self.out.write_all(&tail)?;
        self.out.flush()?;
        Ok(self.out)
    }
}
