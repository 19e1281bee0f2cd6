//! Unpacking a field: its packing, then its bitmap, into `f64` values in
//! the order of its message, identical to ecCodes' `codes_get_values`.

use std::ops::Range;

use super::bitmap;
use super::ccsds;
use super::complex;
use super::error::{corrupt, unsupported, GribResult};
use super::message::GribField;
use super::packing::Packing;
use super::simple;

/// At most this many values per byte of a message (or of a file), plus
/// [`SLACK_VALUES`]: real GRIB data packs a value into at least a few
/// bits, so more is refused before anything is allocated (a constant field
/// takes no data bytes at all, which the slack allows for).
pub const VALUES_PER_BYTE: usize = 16;
/// Values any message or file may decode to, whatever its size (256 MB of float32).
pub const SLACK_VALUES: usize = 1 << 26;

/// The values of a field in the order of its message, and which are missing
/// (bitmap or complex packing's missing-value management). Missing slots
/// hold NaN.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub values: Vec<f64>,
    pub missing: Option<Vec<bool>>,
}

/// Unpacks the values of `field` from the file's bytes.
pub fn decode(file: &[u8], field: &GribField) -> GribResult<Decoded> {
    let data = |r: &Range<usize>| {
        file.get(r.clone())
            .ok_or_else(|| corrupt("the data section lies outside the file"))
    };
    // Allocations are bounded by the bytes that justify them: a message
    // may not decode to more values than its size allows (see
    // [`VALUES_PER_BYTE`]), nor code more values than its grid has.
    let limit = field
        .message_len
        .saturating_mul(VALUES_PER_BYTE)
        .saturating_add(SLACK_VALUES);
    if field.num_points > limit {
        return Err(corrupt(format!(
            "{} announces {} grid points in a message of {} bytes: refused as implausible",
            field.describe(),
            field.num_points,
            field.message_len
        )));
    }
    if field.packing.coded().is_some_and(|c| c > field.num_points) {
        return Err(corrupt(format!(
            "{} codes {} values for a grid of {} points",
            field.describe(),
            field.packing.coded().unwrap_or(0),
            field.num_points
        )));
    }
    let mut coded_missing: Option<Vec<bool>> = None;
    let coded = match &field.packing {
        Packing::Simple {
            scaling,
            coded,
            data: r,
        } => simple::unpack(scaling, *coded, data(r)?)?,
        Packing::Complex {
            scaling,
            coded,
            params,
            data: r,
        } => {
            let (v, m) = complex::decode(scaling, params, *coded, data(r)?)?;
            coded_missing = m;
            v
        }
        Packing::Ccsds {
            scaling,
            coded,
            params,
            data: r,
        } => ccsds::decode(scaling, params, *coded, data(r)?)?,
        Packing::Unsupported(name) => {
            return Err(unsupported(format!(
                "{} is packed as {name}, which hiha does not unpack (it reads simple, complex, \
                 complex with spatial differencing and CCSDS packing)",
                field.describe()
            )))
        }
    };
    match &field.bitmap {
        Some(r) => {
            let bits = data(r)?;
            let (values, missing) = bitmap::expand(coded, coded_missing, bits, field.num_points)?;
            Ok(Decoded {
                values,
                missing: Some(missing),
            })
        }
        None => {
            if coded.len() != field.num_points {
                return Err(corrupt(format!(
                    "{} codes {} values for a grid of {} points",
                    field.describe(),
                    coded.len(),
                    field.num_points
                )));
            }
            Ok(Decoded {
                values: coded,
                missing: coded_missing,
            })
        }
    }
}
