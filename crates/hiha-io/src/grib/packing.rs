//! How a field's values are packed (GRIB2 data representation templates,
//! GRIB1 binary data section flags): what [`super::decode`] needs to
//! unpack them.

use std::ops::Range;

use super::ccsds::CcsdsParams;
use super::complex::ComplexParams;
use super::simple::Scaling;

/// The packing of a field's values.
#[derive(Debug, Clone, PartialEq)]
pub enum Packing {
    /// Simple packing (GRIB1 grid-point simple packing, GRIB2 template 5.0):
    /// `coded` integers of `bits` bits each.
    Simple {
        scaling: Scaling,
        coded: usize,
        data: Range<usize>,
    },
    /// Complex packing (GRIB2 template 5.2) and complex packing with spatial
    /// differencing (5.3).
    Complex {
        scaling: Scaling,
        coded: usize,
        params: ComplexParams,
        data: Range<usize>,
    },
    /// CCSDS adaptive entropy coding (GRIB2 template 5.42).
    Ccsds {
        scaling: Scaling,
        coded: usize,
        params: CcsdsParams,
        data: Range<usize>,
    },
    /// A packing hiha does not unpack, named as ecCodes names it.
    Unsupported(String),
}

impl Packing {
    /// ecCodes' `packingType`.
    pub fn name(&self) -> String {
        match self {
            Packing::Simple { .. } => "grid_simple".into(),
            Packing::Complex { params, .. } if params.order > 0 => {
                "grid_complex_spatial_differencing".into()
            }
            Packing::Complex { .. } => "grid_complex".into(),
            Packing::Ccsds { .. } => "grid_ccsds".into(),
            Packing::Unsupported(n) => n.clone(),
        }
    }

    /// Number of values the data section codes.
    pub fn coded(&self) -> Option<usize> {
        match self {
            Packing::Simple { coded, .. }
            | Packing::Complex { coded, .. }
            | Packing::Ccsds { coded, .. } => Some(*coded),
            Packing::Unsupported(_) => None,
        }
    }
}
