//! Reading archives held in memory.

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::wire::Cursor;
use super::{
    crc32, header, squeeze, Header, SectionInfo, SectionKind, END_MAGIC, FOOTER_LEN,
    FORMAT_VERSION, MAGIC,
};
use crate::error::{Error, Result};

/// Smallest possible index entry: kind, three one-byte varints, one-byte
/// length, CRC32.
const MIN_ENTRY: usize = 9;

/// The largest uncompressed header a reader accepts (256 MiB).
const MAX_HEADER_BYTES: usize = 1 << 28;

/// Where the bytes of an archive go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLayout {
    /// The whole archive.
    pub total: u64,
    /// Magic, version, header length, header block and its CRC.
    pub header: u64,
    /// All section payloads.
    pub payload: u64,
    /// Frame index and footer.
    pub index: u64,
}

impl ArchiveLayout {
    /// Bytes that are not section payload: what the container costs.
    pub fn overhead(&self) -> u64 {
        self.header + self.index
    }
}

/// An archive opened for reading: header and index decoded and checked,
/// section payloads verified when read.
///
/// Safe to share between threads (the read counter is atomic).
pub struct ArchiveReader<'a> {
    bytes: &'a [u8],
    version: (u16, u16),
    header: Header,
    header_end: usize,
    index_start: usize,
    sections: Vec<SectionInfo>,
    reads: AtomicUsize,
}

fn truncated(msg: impl Into<String>) -> Error {
    Error::Truncated(msg.into())
}

impl<'a> ArchiveReader<'a> {
    /// Opens an archive. Checks the magic, the version (a newer major
    /// version is [`Error::Unsupported`]), the header and index CRCs, every
    /// field of the header and index, and that the sections exactly fill the
    /// bytes between header and index. Section payloads are not read.
    pub fn open(bytes: &'a [u8]) -> Result<Self> {
        let p = parse(&Ends {
            head: bytes,
            tail: bytes,
            tail_start: 0,
            len: bytes.len(),
        })?;
        Ok(Self {
            bytes,
            version: p.version,
            header: p.header,
            header_end: p.header_end,
            index_start: p.index_start,
            sections: p.sections,
            reads: AtomicUsize::new(0),
        })
    }

    /// How many variables the archive holds (1 before format 2.1).
    pub fn variable_count(&self) -> usize {
        self.header.variable_count()
    }

    /// The index of the variable named `name`.
    pub fn variable_index(&self, name: &str) -> Option<usize> {
        self.header.variable_names().iter().position(|n| *n == name)
    }

    /// A reader of variable `k` alone, which looks like a one-variable
    /// archive: its header is [`Header::variable`], its sections are those
    /// of the variable (in file order, with dependencies renumbered), and
    /// [`read`](Self::read), [`sections_for_frames`](Self::sections_for_frames)
    /// and [`layout`](Self::layout) work on them. The header and index
    /// bytes stay shared, so `layout` counts them once per variable.
    pub fn for_variable(&self, k: usize) -> Result<ArchiveReader<'a>> {
        let header = self.header.variable(k).ok_or_else(|| {
            Error::InvalidInput(format!(
                "no variable {k}: the archive has {}",
                self.header.variable_count()
            ))
        })?;
        let mut renumber = vec![u32::MAX; self.sections.len()];
        let mut sections = Vec::new();
        for (i, s) in self.sections.iter().enumerate() {
            if s.variable as usize != k {
                continue;
            }
            renumber[i] = sections.len() as u32;
            let mut s = s.clone();
            // Checked at open: a dependency is an earlier section of the
            // same variable, so it has been renumbered already.
            s.depends_on = s.depends_on.map(|d| renumber[d as usize]);
            s.variable = 0;
            sections.push(s);
        }
        Ok(ArchiveReader {
            bytes: self.bytes,
            version: self.version,
            header,
            header_end: self.header_end,
            index_start: self.index_start,
            sections,
            reads: AtomicUsize::new(0),
        })
    }

    /// The archive's format version.
    pub fn version(&self) -> (u16, u16) {
        self.version
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The frame index, in archive order.
    pub fn sections(&self) -> &[SectionInfo] {
        &self.sections
    }

    /// The payload of section `i`, after checking its CRC32. Counts towards
    /// [`sections_read`](Self::sections_read).
    pub fn read(&self, i: usize) -> Result<&'a [u8]> {
        let s = self.sections.get(i).ok_or_else(|| {
            Error::InvalidInput(format!(
                "no section {i}: the archive has {}",
                self.sections.len()
            ))
        })?;
        self.reads.fetch_add(1, Ordering::Relaxed);
        let bytes: &'a [u8] = self.bytes;
        let payload = bytes
            .get(s.offset as usize..(s.offset + s.len) as usize)
            .ok_or_else(|| Error::Corrupt(format!("section {i} lies outside the archive")))?;
        if crc32(payload) != s.crc32 {
            return Err(Error::Checksum {
                section: section_name(i, s),
            });
        }
        Ok(payload)
    }

    /// Number of [`read`](Self::read) calls so far.
    pub fn sections_read(&self) -> usize {
        self.reads.load(Ordering::Relaxed)
    }

    /// The indices (ascending) of the sections needed to decode `frames`:
    /// every section whose frame range overlaps it, and, transitively, the
    /// sections those depend on. Unknown ancillary sections that overlap are
    /// left out; an unknown kind that is needed is [`Error::Unsupported`].
    pub fn sections_for_frames(&self, frames: Range<u32>) -> Result<Vec<usize>> {
        if frames.start > frames.end || frames.end as usize > self.header.shape.frames {
            return Err(Error::InvalidInput(format!(
                "frames {frames:?} do not lie within the archive's {} frames",
                self.header.shape.frames
            )));
        }
        let mut need = vec![false; self.sections.len()];
        for (i, s) in self.sections.iter().enumerate() {
            let overlaps =
                !frames.is_empty() && s.frames.start < frames.end && frames.start < s.frames.end;
            let skippable = matches!(s.kind, SectionKind::Unknown(_)) && s.kind.is_ancillary();
            need[i] = overlaps && !skippable;
        }
        // Dependencies always point backwards, so one reverse pass closes
        // the chains.
        for i in (0..need.len()).rev() {
            if need[i] {
                if let Some(d) = self.sections[i].depends_on {
                    if let Some(slot) = need.get_mut(d as usize) {
                        *slot = true;
                    }
                }
            }
        }
        let out: Vec<usize> = (0..need.len()).filter(|&i| need[i]).collect();
        if let Some(&i) = out
            .iter()
            .find(|&&i| matches!(self.sections[i].kind, SectionKind::Unknown(_)))
        {
            let s = &self.sections[i];
            return Err(Error::Unsupported(format!(
                "section {} is needed for frames {frames:?}, but its kind id {:#04x} comes from format \
                 {}.{}, newer than the {}.{} this build reads",
                section_name(i, s),
                s.kind.id(),
                self.version.0,
                self.version.1,
                FORMAT_VERSION.0,
                FORMAT_VERSION.1
            )));
        }
        Ok(out)
    }

    /// How the archive's bytes split between header, payload and index.
    ///
    /// On a [`for_variable`](Self::for_variable) view, `payload` is that
    /// variable's sections and `total` is header + its payload + index.
    pub fn layout(&self) -> ArchiveLayout {
        let header = self.header_end as u64 + 4;
        let payload = self.sections.iter().map(|s| s.len).sum::<u64>();
        let index = (self.bytes.len() - self.index_start) as u64;
        ArchiveLayout {
            total: header + payload + index,
            header,
            payload,
            index,
        }
    }

    /// Payload bytes per section kind, in order of first appearance (the
    /// shape of [`crate::codec::CompressReport::section_bytes`]).
    pub fn bytes_by_kind(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = Vec::new();
        for s in &self.sections {
            let name = s.kind.name();
            match out.iter_mut().find(|(n, _)| *n == name) {
                Some((_, b)) => *b += s.len as usize,
                None => out.push((name, s.len as usize)),
            }
        }
        out
    }

    /// A human-readable description for `hiha info`: version, sizes,
    /// variable, and one line per section.
    pub fn summary(&self) -> String {
        let h = &self.header;
        let l = self.layout();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "hiha archive, format {}.{}, {} bytes: header {} B, sections {} B, index {} B",
            self.version.0, self.version.1, l.total, l.header, l.payload, l.index
        );
        let _ = writeln!(
            s,
            "variable '{}': {} frames x {} levels x {} lat x {} lon, {}",
            h.meta.var.name, h.shape.frames, h.shape.levels, h.shape.lat, h.shape.lon, h.bound
        );
        let _ = writeln!(
            s,
            "{:>5}  {:<12} {:>15} {:>8} {:>12}",
            "#", "kind", "frames", "needs", "bytes"
        );
        for (i, sec) in self.sections.iter().enumerate() {
            let dep = sec.depends_on.map_or("-".to_string(), |d| d.to_string());
            let fr = format!("{}..{}", sec.frames.start, sec.frames.end);
            let _ = writeln!(
                s,
                "{i:>5}  {:<12} {fr:>15} {dep:>8} {:>12}",
                sec.kind.name(),
                sec.len
            );
        }
        s
    }
}

impl std::fmt::Debug for ArchiveReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveReader")
            .field("version", &self.version)
            .field("layout", &self.layout())
            .field("shape", &self.header.shape)
            .field("sections", &self.sections)
            .field("sections_read", &self.sections_read())
            .finish_non_exhaustive()
    }
}

fn section_name(i: usize, s: &SectionInfo) -> String {
    format!(
        "#{i} ({}, frames {}..{})",
        s.kind, s.frames.start, s.frames.end
    )
}

/// What opening an archive finds: everything but the payloads.
pub(crate) struct Parsed {
    pub version: (u16, u16),
    pub header: Header,
    pub header_end: usize,
    pub index_start: usize,
    pub sections: Vec<SectionInfo>,
}

/// The two ends of an archive of `len` bytes, which is all that opening it
/// reads: `head`, its first bytes (through the header CRC), and `tail`, its
/// bytes from `tail_start` to the end (the frame index and footer). An
/// archive in memory is both.
pub(crate) struct Ends<'b> {
    pub head: &'b [u8],
    pub tail: &'b [u8],
    pub tail_start: usize,
    pub len: usize,
}

impl<'b> Ends<'b> {
    /// Bytes `r` of the archive, from whichever end holds them.
    fn get(&self, r: Range<usize>) -> Result<&'b [u8]> {
        let got = if r.end <= self.head.len() {
            self.head.get(r.clone())
        } else if r.start >= self.tail_start && r.end <= self.len {
            self.tail
                .get(r.start - self.tail_start..r.end - self.tail_start)
        } else {
            None
        };
        got.ok_or_else(|| truncated(format!("archive ends before bytes {}..{}", r.start, r.end)))
    }

    fn read4(&self, at: usize) -> Result<[u8; 4]> {
        let end = at
            .checked_add(4)
            .ok_or_else(|| truncated(format!("archive ends inside a 4-byte field at {at}")))?;
        let s = self
            .get(at..end)
            .map_err(|_| truncated(format!("archive ends inside a 4-byte field at {at}")))?;
        let mut a = [0u8; 4];
        a.copy_from_slice(s);
        Ok(a)
    }
}

/// Opens an archive from its two ends (see [`ArchiveReader::open`] for
/// what is checked).
pub(crate) fn parse(e: &Ends) -> Result<Parsed> {
    let n = e.len;
    let head = e.get(0..n.min(MAGIC.len()))?;
    if head != &MAGIC[..head.len()] {
        return Err(Error::Corrupt(
            "not a hiha archive (bad magic number)".into(),
        ));
    }
    if n < 12 {
        return Err(truncated(format!(
            "archive of {n} bytes ends inside its preamble"
        )));
    }
    let pre = e.get(8..12)?;
    let major = u16::from_le_bytes([pre[0], pre[1]]);
    let minor = u16::from_le_bytes([pre[2], pre[3]]);
    let ours = FORMAT_VERSION;
    if !(super::OLDEST_MAJOR..=ours.0).contains(&major) {
        return Err(Error::Unsupported(format!(
            "archive format version {major}.{minor} cannot be read by this build, which reads \
             formats {}.x to {}.{}{}",
            super::OLDEST_MAJOR,
            ours.0,
            ours.1,
            if major > ours.0 {
                "; use a newer hiha"
            } else {
                ""
            }
        )));
    }
    // Minor versions are compared within the same major version; an
    // older major is read by the rules it had (nothing newer than 1.0).
    let newer = if major == ours.0 {
        minor > ours.1
    } else {
        minor > 0
    };
    let multi = major >= 2 && minor >= super::MULTI_VARIABLE_MINOR;

    // Header.
    let mut c = Cursor::new(e.get(12..e.head.len().min(n))?, "header length");
    let header_len = c
        .varint()
        .map_err(|_| truncated("archive ends inside the header length, or it is corrupt"))?;
    let body_start = 12 + c.position();
    let header_end = (body_start as u64)
        .checked_add(header_len)
        .filter(|&e| e.saturating_add(4) <= n as u64)
        .ok_or_else(|| {
            truncated(format!(
                "header of {header_len} bytes runs past the end of the {n}-byte archive"
            ))
        })? as usize;
    let stored = u32::from_le_bytes(e.read4(header_end)?);
    if crc32(e.get(0..header_end)?) != stored {
        return Err(Error::Checksum {
            section: "header".into(),
        });
    }
    let block = e.get(body_start..header_end)?;
    let needs = squeeze::coding_minor(block);
    if needs > 0 && (major < 2 || (major == 2 && minor < needs)) {
        return Err(Error::Corrupt(format!(
            "the header of this {major}.{minor} archive uses a coding new in 2.{needs}"
        )));
    }
    let raw = squeeze::unsqueeze(block, MAX_HEADER_BYTES)?;
    let header = header::decode(&raw, newer, multi)?;
    let payload_start = header_end + 4;

    // Footer.
    if n < payload_start + FOOTER_LEN {
        return Err(truncated("archive ends before its frame index"));
    }
    let footer = n - FOOTER_LEN;
    if *e.get(footer + 8..n)? != END_MAGIC {
        return Err(truncated(
            "archive does not end with the hiha end marker: it is truncated or damaged",
        ));
    }
    let index_crc = u32::from_le_bytes(e.read4(footer)?);
    let index_len = u32::from_le_bytes(e.read4(footer + 4)?) as usize;
    let index_start = footer
        .checked_sub(index_len)
        .filter(|&s| s >= payload_start)
        .ok_or_else(|| {
            Error::Corrupt(format!(
                "frame index of {index_len} bytes overlaps the header"
            ))
        })?;
    let index = e.get(index_start..footer)?;
    if crc32(index) != index_crc {
        return Err(Error::Checksum {
            section: "frame index".into(),
        });
    }

    // Index.
    let mut c = Cursor::new(index, "frame index");
    let count = c.count(MIN_ENTRY)?;
    let mut sections = Vec::with_capacity(count);
    let mut offset = payload_start as u64;
    for i in 0..count {
        let id = c.u8()?;
        let kind = match SectionKind::from_id_in(id, major, minor) {
            Some(k) => k,
            None if id != 0 && newer => SectionKind::Unknown(id),
            None => return Err(c.corrupt(format!("section {i} has invalid kind id {id:#04x}"))),
        };
        let variable = if major >= 2 { c.u32_varint()? } else { 0 };
        // Sections of a variable a newer writer added are kept as
        // unknown ancillary-like data of no variable of ours.
        let var_frames = header.shape_of(variable as usize).map(|s| s.frames);
        let var_frames = match var_frames {
            Some(f) => f,
            None if newer => u32::MAX as usize,
            None => {
                return Err(c.corrupt(format!(
                    "section {i} belongs to variable {variable}, but the archive has {}",
                    header.variable_count()
                )))
            }
        };
        let first = c.u32_varint()?;
        let count = c.u32_varint()?;
        let end = first
            .checked_add(count)
            .filter(|&e| e as usize <= var_frames)
            .ok_or_else(|| {
                c.corrupt(format!(
                    "section {i} covers frames {first}..{} of {var_frames}",
                    first as u64 + count as u64,
                ))
            })?;
        let back = c.varint()?;
        let depends_on = match back {
            0 => None,
            b if b <= i as u64 => Some((i as u64 - b) as u32),
            b => {
                return Err(c.corrupt(format!(
                    "section {i} depends on a section {b} before the first"
                )))
            }
        };
        if let Some(d) = depends_on {
            if sections.get(d as usize).map(|s: &SectionInfo| s.variable) != Some(variable) {
                return Err(c.corrupt(format!(
                    "section {i} of variable {variable} depends on section {d} of another variable"
                )));
            }
        }
        let len = c.varint()?;
        let crc = c.u32()?;
        let next = offset
            .checked_add(len)
            .filter(|&e| e <= index_start as u64)
            .ok_or_else(|| {
                c.corrupt(format!(
                    "section {i} of {len} bytes runs into the frame index"
                ))
            })?;
        sections.push(SectionInfo {
            kind,
            variable,
            frames: first..end,
            depends_on,
            offset,
            len,
            crc32: crc,
        });
        offset = next;
    }
    if c.remaining() > 0 && !newer {
        return Err(c.corrupt(format!(
            "{} unexpected bytes after the last entry",
            c.remaining()
        )));
    }
    if offset != index_start as u64 {
        return Err(Error::Corrupt(format!(
            "sections fill {} bytes but {} lie between header and frame index",
            offset - payload_start as u64,
            index_start - payload_start
        )));
    }
    Ok(Parsed {
        version: (major, minor),
        header,
        header_end,
        index_start,
        sections,
    })
}
