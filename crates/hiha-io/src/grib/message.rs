//! One GRIB field as hiha sees it: where its message lies in the file, what
//! it holds (parameter, level, ensemble member, time), its grid and how its
//! values are packed. [`scan`] cuts a file into messages and parses their
//! headers without decoding any value.

use std::ops::Range;

use hiha_core::meta::Attr;

use super::latlon::GridDef;
use super::level::Level;
use super::packing::Packing;

/// The parameter of a field, in the numbers of its edition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ParamKey {
    /// GRIB1: parameter table version (section 1 octet 4) and parameter number.
    Grib1 { table: u8, number: u8 },
    /// GRIB2: discipline (section 0), parameter category and number.
    Grib2 {
        discipline: u8,
        category: u8,
        number: u8,
    },
}

/// What a field's step means (ecCodes' `stepType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepType {
    Instant,
    Avg,
    Accum,
    Max,
    Min,
    Diff,
    Rms,
    Sd,
    Cov,
    Ratio,
    /// GRIB2 statistical processing not named above (code table 4.10).
    Other(u8),
}

impl StepType {
    /// ecCodes' name.
    pub fn name(&self) -> String {
        match self {
            StepType::Instant => "instant".into(),
            StepType::Avg => "avg".into(),
            StepType::Accum => "accum".into(),
            StepType::Max => "max".into(),
            StepType::Min => "min".into(),
            StepType::Diff => "diff".into(),
            StepType::Rms => "rms".into(),
            StepType::Sd => "sd".into(),
            StepType::Cov => "cov".into(),
            StepType::Ratio => "ratio".into(),
            StepType::Other(8) => "sdiff".into(),
            StepType::Other(10) => "stdanom".into(),
            StepType::Other(11) => "sum".into(),
            StepType::Other(100) => "severity".into(),
            StepType::Other(101) => "mode".into(),
            StepType::Other(102) => "index".into(),
            StepType::Other(n) => format!("stat{n}"),
        }
    }

    /// From GRIB2 code table 4.10 (type of statistical processing); 255
    /// (missing) is instantaneous, as ecCodes reads it.
    pub fn from_grib2(code: u8) -> StepType {
        match code {
            255 => StepType::Instant,
            0 => StepType::Avg,
            1 => StepType::Accum,
            2 => StepType::Max,
            3 => StepType::Min,
            4 => StepType::Diff,
            5 => StepType::Rms,
            6 => StepType::Sd,
            7 => StepType::Cov,
            9 => StepType::Ratio,
            n => StepType::Other(n),
        }
    }
}

/// The forecast step of a field, in seconds after its reference time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Step {
    /// Start of the statistical interval (the step itself for instantaneous fields).
    pub start: i64,
    /// End of the interval: cfgrib's `step` (ecCodes' `endStep`).
    pub end: i64,
    pub kind: StepType,
}

/// One field of a GRIB file: a GRIB1 message, or one field of a GRIB2
/// message (a GRIB2 message may repeat sections 2–7 or 3–7 or 4–7).
#[derive(Debug, Clone)]
pub struct GribField {
    /// Position among the fields of the file, from 0.
    pub index: usize,
    /// Byte offset of the message that holds it.
    pub offset: usize,
    /// Length of that message in bytes.
    pub message_len: usize,
    pub edition: u8,
    pub centre: u16,
    pub sub_centre: u16,
    pub param: ParamKey,
    /// GRIB2 product definition template number, or the GRIB1 time range
    /// indicator with 1000 added (both identify the kind of product).
    pub product: u16,
    pub level: Level,
    /// The ensemble member (`number`), when the product has one.
    pub number: Option<i64>,
    /// The reference (analysis or forecast start) time, in seconds since
    /// 1970-01-01T00:00:00 UTC.
    pub ref_time: i64,
    pub step: Step,
    pub grid: GridDef,
    /// Number of grid points (values of the field, missing ones included).
    pub num_points: usize,
    pub packing: Packing,
    /// Absolute byte range of the bitmap (one bit per grid point, 1 = a
    /// value is coded), when there is one.
    pub bitmap: Option<Range<usize>>,
    /// Further GRIB keys, kept as attributes of the variable (`GRIB_…`).
    pub attrs: Vec<Attr>,
}

impl GribField {
    /// "message 12 at byte 4096" (1-based message number, as `grib_ls` counts).
    pub fn describe(&self) -> String {
        format!("field {} (message at byte {})", self.index + 1, self.offset)
    }
}
