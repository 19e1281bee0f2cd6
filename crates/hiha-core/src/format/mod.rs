//! The `.hiha` container: a checksummed header, sections of coded bytes, and
//! a frame index for random access. The byte layout is specified in
//! `docs/FORMAT.md`; this module is its reference implementation.
//!
//! ```text
//! MAGIC(8) major(u16) minor(u16) header_len(varint) header header_crc(u32)
//! section 0 | section 1 | ... | section n-1            (back to back)
//! index(index_len) index_crc(u32) index_len(u32) END_MAGIC(4)
//! ```
//!
//! - [`ArchiveWriter`] writes an archive to memory or, streaming, to any
//!   [`std::io::Write`]: header first, each section as it is added, the index
//!   and footer at [`ArchiveWriter::finish`].
//! - [`ArchiveReader`] opens an archive held in memory, checks everything but
//!   the section payloads up front (magic, version, header and index
//!   checksums, that the sections tile the bytes between header and index),
//!   and verifies a section's CRC32 when it is [`ArchiveReader::read`].
//! - [`ArchiveReader::sections_for_frames`] lists the sections needed to
//!   decode a frame range, dependency chains included, so a reader of frames
//!   `a..b` touches only those ([`ArchiveReader::sections_read`] counts).

mod file;
mod header;
mod reader;
mod squeeze;
pub use squeeze::{
    coding_minor, mixing_costs, squeeze, squeeze_v1, unsqueeze, MIXING_MINOR, PRIMER, PRIMER_2,
};
mod wire;
pub(crate) use wire::{put_varint, unzigzag, zigzag};
mod writer;

use std::ops::Range;

use crate::bound::Bound;
use crate::field::Shape;
use crate::meta::DatasetMeta;

pub use file::ArchiveFile;
pub use reader::{ArchiveLayout, ArchiveReader};
pub use writer::ArchiveWriter;
mod merge;
pub(crate) use merge::merged_header;
pub use merge::{extract_variable, merge};

/// The first eight bytes of every archive: `\x89HIHA\r\n\x1a` (the PNG
/// trick: a high byte, the name, and line-ending bytes that text-mode
/// transfers would mangle).
pub const MAGIC: [u8; 8] = *b"\x89HIHA\r\n\x1a";

/// The last four bytes of every archive.
pub const END_MAGIC: [u8; 4] = *b"hiha";

/// The format version this build writes, `(major, minor)`. It reads every
/// archive of the same major version; see `docs/FORMAT.md` for the policy.
pub const FORMAT_VERSION: (u16, u16) = (2, 7);

/// The minor version of major 2 that added multi-variable archives. Writers
/// write the oldest minor that can hold the archive: one-variable archives
/// stay 2.0, so that 2.0 readers keep reading them.
pub const MULTI_VARIABLE_MINOR: u16 = 1;

/// The oldest major version this build still reads.
pub const OLDEST_MAJOR: u16 = 1;

/// Bytes of the fixed footer: index CRC32, index length, [`END_MAGIC`].
pub const FOOTER_LEN: usize = 12;

/// At most this many coordinate values may be stored as arithmetic
/// progressions in one header (they expand on reading; raw arrays are
/// bounded by the bytes they occupy instead).
pub const MAX_PROGRESSION_VALUES: u64 = 1 << 22;

/// Everything an archive says about its data besides the coded sections.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Dims, coordinates (as aux vars), attributes of the source file.
    pub meta: DatasetMeta,
    /// The 4-D shape of the compressed field.
    pub shape: Shape,
    /// The accuracy the user asked for.
    pub bound: Bound,
    /// The codec configuration, as text the pipeline writes and parses
    /// (TOML or JSON); the container does not interpret it.
    pub codec_config: String,
    /// Opaque bytes the pipeline owns (value range, normalisation
    /// statistics, ...); it versions their layout itself.
    pub extra: Vec<u8>,
    /// The second and later variables of a multi-variable archive (format
    /// 2.1), which share `meta`'s dims, attributes and auxiliary variables;
    /// `meta.var`, `shape`, `bound`, `codec_config` and `extra` describe
    /// variable 0. Empty in one-variable archives.
    pub variables: Vec<VarHeader>,
}

/// What a header says about one variable of a multi-variable archive.
#[derive(Debug, Clone, PartialEq)]
pub struct VarHeader {
    pub var: crate::meta::VarMeta,
    pub shape: Shape,
    pub bound: Bound,
    pub codec_config: String,
    pub extra: Vec<u8>,
}

impl Header {
    /// How many variables the archive holds (at least 1).
    pub fn variable_count(&self) -> usize {
        1 + self.variables.len()
    }

    /// The variables' names, in archive order.
    pub fn variable_names(&self) -> Vec<&str> {
        std::iter::once(self.meta.var.name.as_str())
            .chain(self.variables.iter().map(|v| v.var.name.as_str()))
            .collect()
    }

    /// The one-variable header of variable `k` (the shared metadata with
    /// that variable's own description), or `None` when there is no such
    /// variable.
    pub fn variable(&self, k: usize) -> Option<Header> {
        if k == 0 {
            return Some(Header {
                variables: Vec::new(),
                ..self.clone()
            });
        }
        let v = self.variables.get(k - 1)?;
        let mut meta = self.meta.clone();
        meta.var = v.var.clone();
        Some(Header {
            meta,
            shape: v.shape,
            bound: v.bound,
            codec_config: v.codec_config.clone(),
            extra: v.extra.clone(),
            variables: Vec::new(),
        })
    }

    /// The shape of variable `k`.
    pub fn shape_of(&self, k: usize) -> Option<Shape> {
        match k {
            0 => Some(self.shape),
            _ => self.variables.get(k - 1).map(|v| v.shape),
        }
    }

    /// The format version this header needs: 2.7 for an `extra` field of
    /// tag 10 (lossless lattice indices); 2.6 for an `extra` field of
    /// tag 9 (delta-coded per-level ranges); 2.5 for an `extra` field of
    /// tag 8 (chunk codings new in 2.5); 2.4 for an `extra` field of
    /// tag 7 (coarse per-level ranges); 2.3 for an `extra` field of
    /// tag 6 or more (chunk codings new in 2.3); 2.2 for tag 5 (chunk
    /// codings new in 2.2); 2.1 for more than one
    /// variable, a bound new in 2.1 (per-level, pointwise relative,
    /// ensemble spread), or an `extra` field of tag 3 or 4; else 2.0.
    /// An archive holding sections of a kind new in 2.1 needs 2.1 too: see
    /// [`Header::needed_version_with`].
    pub fn needed_version(&self) -> (u16, u16) {
        let new_bound =
            |b: &Bound| b.is_per_level() || matches!(b, Bound::PwRel(_) | Bound::Spread(_));
        let new_extra = |e: &[u8]| extra_tags(e).any(|t| t >= 3);
        let per_level = new_bound(&self.bound)
            || new_extra(&self.extra)
            || self
                .variables
                .iter()
                .any(|v| new_bound(&v.bound) || new_extra(&v.extra));
        let tag_at_least = |e: &[u8], t0: u8| extra_tags(e).any(|t| t >= t0);
        let any_tag = |t0: u8| {
            tag_at_least(&self.extra, t0)
                || self.variables.iter().any(|v| tag_at_least(&v.extra, t0))
        };
        if any_tag(10) {
            return (FORMAT_VERSION.0, 7);
        }
        if any_tag(9) {
            return (FORMAT_VERSION.0, 6);
        }
        if any_tag(8) {
            return (FORMAT_VERSION.0, 5);
        }
        if any_tag(7) {
            return (FORMAT_VERSION.0, 4);
        }
        if any_tag(6) {
            return (FORMAT_VERSION.0, 3);
        }
        if any_tag(5) {
            return (FORMAT_VERSION.0, 2);
        }
        if self.variables.is_empty() && !per_level {
            (FORMAT_VERSION.0, 0)
        } else {
            (FORMAT_VERSION.0, MULTI_VARIABLE_MINOR)
        }
    }

    /// [`Header::needed_version`] of an archive that will also hold
    /// sections of `kinds` (the oldest minor that defines all of them).
    pub fn needed_version_with(&self, kinds: &[SectionKind]) -> (u16, u16) {
        let (major, minor) = self.needed_version();
        let kinds_minor = kinds.iter().map(|k| k.min_minor()).max().unwrap_or(0);
        (major, minor.max(kinds_minor))
    }
}

/// The tags of the fields of a variable's `extra` bytes (a list of
/// `u8 tag, varint length, payload`; see FORMAT.md 3), as far as they parse.
/// Tags 1 and 2 are defined by format 2.0, tags 3 and 4 by 2.1, tag 5 by 2.2,
/// tag 6 by 2.3, tag 7 by 2.4, tag 8 by 2.5, tag 9 by 2.6.
pub fn extra_tags(extra: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut rest = extra;
    std::iter::from_fn(move || {
        let (&tag, after) = rest.split_first()?;
        let (len, used) = get_varint(after)?;
        let end = usize::try_from(len).ok()?.checked_add(used)?;
        rest = after.get(end..)?;
        Some(tag)
    })
}

/// What a section holds. Ids `0x01..=0x7F` are *critical* (a reader that
/// does not know one cannot decode the frames it covers); ids `0x80..=0xFF`
/// are *ancillary* (a reader may skip one it does not know). Id 0 is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// Missing-value mask.
    Mask,
    /// Error-bounded residual coder output.
    Residual,
    /// Predictor parameters that are not one of the kinds below.
    Predictor,
    /// Spectral/state-space model stage of the FIC predictor.
    Ssm,
    /// MIM stage of the FIC predictor.
    Mim,
    /// IDM stage of the FIC predictor.
    Idm,
    /// TRC stage of the FIC predictor.
    Trc,
    /// Ancillary (format 2): a hash of a chunk's decoded values, which the
    /// decoder compares with what it decoded.
    Check,
    /// Format 2.1: the sign (or zero) of each coded element of a chunk,
    /// coded losslessly, for the pointwise relative bound and `keep-zeros`.
    Signs,
    /// Format 2.1: sparse corrections of a chunk's decoded values (the
    /// ensemble-spread bound, `spread.rs`).
    Fixes,
    /// Format 2.1: a residual section whose coded values are the indices
    /// of the variable's lattice (at the head of the section), not the
    /// values themselves. A separate kind, so that a reader that does not
    /// know lattices refuses the archive instead of decoding indices.
    LatticeResidual,
    /// A kind defined by a newer minor format version (only ever produced by
    /// [`ArchiveReader`] on such archives; [`ArchiveWriter`] refuses it).
    Unknown(u8),
}

impl SectionKind {
    /// The kinds this build knows, in id order.
    pub const KNOWN: [SectionKind; 11] = [
        SectionKind::Mask,
        SectionKind::Residual,
        SectionKind::Predictor,
        SectionKind::Ssm,
        SectionKind::Mim,
        SectionKind::Idm,
        SectionKind::Trc,
        SectionKind::Signs,
        SectionKind::Fixes,
        SectionKind::LatticeResidual,
        SectionKind::Check,
    ];

    /// The kind's id byte.
    pub fn id(self) -> u8 {
        match self {
            SectionKind::Mask => 1,
            SectionKind::Residual => 2,
            SectionKind::Predictor => 3,
            SectionKind::Ssm => 4,
            SectionKind::Mim => 5,
            SectionKind::Idm => 6,
            SectionKind::Trc => 7,
            SectionKind::Signs => 8,
            SectionKind::Fixes => 9,
            SectionKind::LatticeResidual => 10,
            SectionKind::Check => 0x80,
            SectionKind::Unknown(id) => id,
        }
    }

    /// The known kind with this id, or `None` (id 0 and ids this build does
    /// not know).
    pub fn from_id(id: u8) -> Option<Self> {
        Self::KNOWN.into_iter().find(|k| k.id() == id)
    }

    /// The kind with this id as defined by format version `major.minor`
    /// (the check kind is new in format 2, the signs and fixes kinds in 2.1).
    pub fn from_id_in(id: u8, major: u16, minor: u16) -> Option<Self> {
        Self::from_id(id).filter(|k| match k {
            SectionKind::Check => major >= 2,
            SectionKind::Signs | SectionKind::Fixes | SectionKind::LatticeResidual => {
                major > 2 || (major == 2 && minor >= 1)
            }
            _ => true,
        })
    }

    /// The oldest minor version of format 2 that defines this kind.
    pub fn min_minor(self) -> u16 {
        match self {
            SectionKind::Signs | SectionKind::Fixes => MULTI_VARIABLE_MINOR,
            _ => 0,
        }
    }

    /// True for ids `0x80..=0xFF`: readers may skip such a section when they
    /// do not know its kind.
    pub fn is_ancillary(self) -> bool {
        self.id() >= 0x80
    }

    /// A short lowercase name (`"residual"`, `"unknown-0x08"`).
    pub fn name(self) -> String {
        match self {
            SectionKind::Mask => "mask".into(),
            SectionKind::Residual => "residual".into(),
            SectionKind::Predictor => "predictor".into(),
            SectionKind::Ssm => "ssm".into(),
            SectionKind::Mim => "mim".into(),
            SectionKind::Idm => "idm".into(),
            SectionKind::Trc => "trc".into(),
            SectionKind::Signs => "signs".into(),
            SectionKind::Fixes => "fixes".into(),
            SectionKind::LatticeResidual => "lattice-residual".into(),
            SectionKind::Check => "check".into(),
            SectionKind::Unknown(id) => format!("unknown-{id:#04x}"),
        }
    }
}

impl std::fmt::Display for SectionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// One entry of the frame index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionInfo {
    pub kind: SectionKind,
    /// The variable the section belongs to (format 2; always 0 in format 1
    /// and in the one-variable archives of format 2.0).
    pub variable: u32,
    /// The frames the section codes (may be empty for a section that is only
    /// ever reached as a dependency).
    pub frames: Range<u32>,
    /// The index of an earlier section this one needs to be decoded (its
    /// keyframe, a shared model, ...). Chains are followed transitively.
    pub depends_on: Option<u32>,
    /// Byte offset of the payload from the start of the archive.
    pub offset: u64,
    /// Payload length in bytes.
    pub len: u64,
    /// CRC-32 (IEEE) of the payload.
    pub crc32: u32,
}

/// CRC-32 (IEEE 802.3, the zlib/PNG one) of `bytes`, as stored in archives.
/// Reads a shortest-form LEB128 varint from the start of `bytes`: the value
/// and the bytes it took, or `None` when it is not a valid one.
pub(crate) fn get_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut c = wire::Cursor::new(bytes, "varint");
    let v = c.varint().ok()?;
    Some((v, c.position()))
}

pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_ids_round_trip() {
        for k in SectionKind::KNOWN {
            assert_eq!(SectionKind::from_id(k.id()), Some(k));
            assert_eq!(k.is_ancillary(), k == SectionKind::Check);
        }
        assert_eq!(SectionKind::from_id_in(0x80, 1, 0), None);
        assert_eq!(SectionKind::from_id_in(8, 2, 0), None);
        assert_eq!(SectionKind::from_id_in(8, 2, 1), Some(SectionKind::Signs));
        assert_eq!(
            SectionKind::from_id_in(0x80, 2, 0),
            Some(SectionKind::Check)
        );
        assert_eq!(SectionKind::from_id(0), None);
        assert_eq!(SectionKind::from_id_in(9, 2, 0), None);
        assert_eq!(SectionKind::from_id_in(9, 2, 1), Some(SectionKind::Fixes));
        assert_eq!(SectionKind::from_id_in(10, 2, 0), None);
        assert_eq!(
            SectionKind::from_id_in(10, 2, 1),
            Some(SectionKind::LatticeResidual)
        );
        assert_eq!(SectionKind::from_id(11), None);
        assert!(SectionKind::Unknown(0x80).is_ancillary());
        assert_eq!(SectionKind::Unknown(8).to_string(), "unknown-0x08");
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn extra_tags_parse_as_far_as_they_go() {
        let tags: Vec<u8> = extra_tags(&[1, 2, 0, 0, 3, 0, 4, 5]).collect();
        assert_eq!(tags, vec![1, 3], "the last field runs past the end");
        assert_eq!(extra_tags(&[]).count(), 0);
    }
}
