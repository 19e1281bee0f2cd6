//! Reading an archive from a file without holding it: its two ends (header,
//! frame index) are read and checked as [`ArchiveReader::open`] checks
//! them, and the sections a frame range needs are read when asked for, as
//! an *excerpt*: a one-variable archive in memory holding those sections'
//! payloads (each checked against the CRC the index gives) and every other
//! section of the variable empty, so that its frame index, and therefore
//! every decoding decision, is the full archive's. Decoding frames `a..b`
//! of the excerpt gives what decoding them from the whole archive gives;
//! memory is bounded by the sections of those frames, not by the archive.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::reader::{parse, Ends, Parsed};
use super::{crc32, get_varint, ArchiveWriter, Header, SectionInfo, FOOTER_LEN, FORMAT_VERSION};
use crate::error::{Error, Result};

/// An archive file opened for reading a few frames at a time.
pub struct ArchiveFile {
    file: File,
    parsed: Parsed,
    /// The archive's length in bytes.
    len: u64,
    /// Bytes read from the file so far.
    read: AtomicU64,
}

/// Reads `len` bytes at `at`.
fn read_at(mut f: &File, at: u64, len: usize) -> Result<Vec<u8>> {
    f.seek(SeekFrom::Start(at))?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(len)
        .map_err(|_| Error::InvalidInput(format!("cannot allocate {len} bytes")))?;
    buf.resize(len, 0);
    f.read_exact(&mut buf)?;
    Ok(buf)
}

impl ArchiveFile {
    /// Opens the archive at `path`: reads and checks its header and frame
    /// index (everything [`super::ArchiveReader::open`] checks), nothing
    /// else.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path)?;
        let n = usize::try_from(file.metadata()?.len())
            .map_err(|_| Error::InvalidInput("archive too large for this machine".into()))?;
        // The preamble and the header length, then the header and its CRC.
        let first = read_at(&file, 0, n.min(22))?;
        let mut read = first.len() as u64;
        let head = match first.get(12..).and_then(get_varint) {
            Some((len, used)) => {
                let end = usize::try_from(len)
                    .ok()
                    .and_then(|l| l.checked_add(12 + used + 4))
                    .map_or(n, |e| e.min(n));
                read += end as u64;
                read_at(&file, 0, end)?
            }
            None => first,
        };
        // The footer, then the index before it.
        let (tail_start, tail) = if n >= FOOTER_LEN {
            let footer = read_at(&file, (n - FOOTER_LEN) as u64, FOOTER_LEN)?;
            let index_len =
                u32::from_le_bytes([footer[4], footer[5], footer[6], footer[7]]) as usize;
            let start = n.saturating_sub(FOOTER_LEN).saturating_sub(index_len);
            read += (FOOTER_LEN + (n - start)) as u64;
            (start, read_at(&file, start as u64, n - start)?)
        } else {
            (n, Vec::new())
        };
        let parsed = parse(&Ends {
            head: &head,
            tail: &tail,
            tail_start,
            len: n,
        })?;
        Ok(Self {
            file,
            parsed,
            len: n as u64,
            read: AtomicU64::new(read),
        })
    }

    /// The archive's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the archive file is empty (it never is once opened).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many bytes were read from the file so far (opening it reads the
    /// preamble, header, footer and frame index).
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Reads `len` bytes at `at`, counting them.
    fn read_counted(&self, at: u64, len: usize) -> Result<Vec<u8>> {
        let v = read_at(&self.file, at, len)?;
        self.read.fetch_add(len as u64, Ordering::Relaxed);
        Ok(v)
    }

    /// Bytes `range` of section `i`'s payload (global index), **without**
    /// checking its CRC (which covers the whole payload): for a caller that
    /// reads only part of a section, such as a coarse preview. The range
    /// must lie inside the payload.
    pub fn read_section_range(&self, i: usize, range: Range<usize>) -> Result<Vec<u8>> {
        let s = self.parsed.sections.get(i).ok_or_else(|| {
            Error::InvalidInput(format!(
                "no section {i}: the archive has {}",
                self.parsed.sections.len()
            ))
        })?;
        if range.start > range.end || range.end as u64 > s.len {
            return Err(Error::InvalidInput(format!(
                "bytes {range:?} of section {i}, which has {}",
                s.len
            )));
        }
        let at = s
            .offset
            .checked_add(range.start as u64)
            .filter(|&a| a.saturating_add(range.len() as u64) <= self.len)
            .ok_or_else(|| Error::Corrupt(format!("section {i} lies outside the archive")))?;
        self.read_counted(at, range.len())
    }

    /// Section `i`'s whole payload (global index), checked against its CRC.
    pub fn read_section(&self, i: usize) -> Result<Vec<u8>> {
        let len = self
            .parsed
            .sections
            .get(i)
            .map(|s| s.len)
            .ok_or_else(|| Error::InvalidInput(format!("no section {i}")))?;
        let len = usize::try_from(len)
            .map_err(|_| Error::Corrupt(format!("section {i} is too large")))?;
        let p = self.read_section_range(i, 0..len)?;
        let s = &self.parsed.sections[i];
        if crc32(&p) != s.crc32 {
            return Err(Error::Checksum {
                section: format!(
                    "#{i} ({}, frames {}..{})",
                    s.kind, s.frames.start, s.frames.end
                ),
            });
        }
        Ok(p)
    }

    /// The archive's format version.
    pub fn version(&self) -> (u16, u16) {
        self.parsed.version
    }

    /// The archive's header (every variable).
    pub fn header(&self) -> &Header {
        &self.parsed.header
    }

    /// The frame index, in archive order.
    pub fn sections(&self) -> &[SectionInfo] {
        &self.parsed.sections
    }

    /// The one-variable archive of variable `k` holding the payloads of the
    /// sections that frames `frames` need (those that overlap them, and
    /// what they depend on), every other section of the variable empty.
    /// Payloads are checked against the index's CRCs as they are read.
    pub fn excerpt(&self, k: usize, frames: Range<usize>) -> Result<Vec<u8>> {
        self.excerpt_except(k, frames, |_, _| false)
    }

    /// [`excerpt`](Self::excerpt), leaving empty (unread) the needed sections
    /// for which `skip(global index, section)` holds: their caller reads
    /// them itself (a coarse preview reads only part of its residual
    /// sections with [`read_section_range`](Self::read_section_range)).
    pub fn excerpt_except(
        &self,
        k: usize,
        frames: Range<usize>,
        skip: impl Fn(usize, &SectionInfo) -> bool,
    ) -> Result<Vec<u8>> {
        let (major, _) = self.parsed.version;
        if major != FORMAT_VERSION.0 {
            return Err(Error::Unsupported(format!(
                "reading a format {major} archive a few frames at a time (read it whole)"
            )));
        }
        let header = self.parsed.header.variable(k).ok_or_else(|| {
            Error::InvalidInput(format!(
                "no variable {k}: the archive has {}",
                self.parsed.header.variable_count()
            ))
        })?;
        let all = &self.parsed.sections;
        let mine: Vec<usize> = (0..all.len())
            .filter(|&i| all[i].variable as usize == k)
            .collect();
        let local = |g: u32| mine.binary_search(&(g as usize)).ok();
        let mut need: Vec<bool> = mine
            .iter()
            .map(|&i| {
                let f = &all[i].frames;
                (f.start as usize) < frames.end && frames.start < f.end as usize
            })
            .collect();
        // Dependencies point backwards: one backward pass closes the chains.
        for j in (0..mine.len()).rev() {
            if need[j] {
                if let Some(d) = all[mine[j]].depends_on.and_then(local) {
                    need[d] = true;
                }
            }
        }
        let mut w = ArchiveWriter::new(&header)?;
        for (j, &i) in mine.iter().enumerate() {
            let s = &all[i];
            let payload = if need[j] && !skip(i, s) {
                self.read_section(i)?
            } else {
                Vec::new()
            };
            let dep = match s.depends_on {
                Some(d) => Some(local(d).ok_or_else(|| {
                    Error::Corrupt(format!("section {i} depends on another variable's section"))
                })? as u32),
                None => None,
            };
            w.add_section(s.kind, s.frames.clone(), dep, &payload)?;
        }
        w.finish()
    }
}
