//! Compression of the header block.
//!
//! At high ratios a whole archive is a few kilobytes, and the header (dims,
//! coordinates, CF attributes, history) can be a third of it. The header is
//! therefore coded with an adaptive order-1 byte model (a binary tree of
//! [`BitModel`]s per previous byte) whose probabilities are first *primed*
//! on [`PRIMER`], a fixed text of the names and values that NetCDF/CF
//! headers are made of. The primer is part of the format: changing it is a
//! format change (the golden files catch it).
//!
//! Layout of a squeezed block: `0x00` + raw bytes, or `0x01` + varint raw
//! length + range-coded bytes. The writer keeps whichever is shorter.

use crate::entropy::{BitModel, RangeDecoder, RangeEncoder};
use crate::error::{Error, Result};

use super::wire::{put_varint, Cursor};

/// Text the model learns before coding a header (format v1).
pub const PRIMER: &str = "\
units long_name standard_name _FillValue missing_value scale_factor add_offset \
axis calendar positive Conventions CF-1.6 CF-1.7 CF-1.8 history institution source \
references comment title GRIB_paramId GRIB_shortName GRIB_units GRIB_name GRIB_cfName \
GRIB_cfVarName GRIB_dataType GRIB_numberOfPoints GRIB_typeOfLevel GRIB_stepUnits \
GRIB_stepType GRIB_gridType GRIB_NV GRIB_Nx GRIB_Ny GRIB_iDirectionIncrementInDegrees \
GRIB_jDirectionIncrementInDegrees GRIB_latitudeOfFirstGridPointInDegrees \
GRIB_longitudeOfFirstGridPointInDegrees GRIB_latitudeOfLastGridPointInDegrees \
GRIB_longitudeOfLastGridPointInDegrees GRIB_jPointsAreConsecutive \
GRIB_jScansPositively GRIB_iScansNegatively GRIB_missingValue GRIB_totalNumber \
GRIB_edition GRIB_centre GRIB_centreDescription GRIB_subCentre ecmf \
European Centre for Medium-Range Weather Forecasts \
time level latitude longitude lat lon number step valid_time isobaricInhPa \
pressure_level plev hours since 1900-01-01 00:00:00.0 gregorian proleptic_gregorian \
degrees_north degrees_east millibars hPa Pa K m s**-1 m**2 s**-2 kg kg**-1 \
air_temperature geopotential specific_humidity eastward_wind northward_wind \
relative_humidity geopotential_height Temperature Geopotential Specific humidity \
U component of wind V component of wind Relative humidity Geopotential height \
2 metre temperature surface air_pressure ensemble_member \
regular_ll isobaricInhPa Copernicus Climate Change Service ERA5 ERA-Interim NCEP GFS \
netCDF4 xarray cfgrib CDI CDO ncks nco Created by 2019-03-01 2020-01-01 2017-01-01 \
an fc pl sfc reanalysis analysis forecast hiha decompressed";

/// Order-1 adaptive byte model: a 255-node binary tree per previous byte.
struct ByteModel {
    trees: Vec<BitModel>,
}

impl ByteModel {
    fn new() -> Self {
        Self {
            trees: vec![BitModel::new(); 256 * 256],
        }
    }

    fn primed() -> Self {
        let mut m = Self::new();
        let mut scratch = RangeEncoder::new();
        let mut prev = 0u8;
        for &b in PRIMER.as_bytes() {
            m.encode(&mut scratch, prev, b);
            prev = b;
        }
        m
    }

    fn encode(&mut self, enc: &mut RangeEncoder, prev: u8, byte: u8) {
        let base = prev as usize * 256;
        let mut node = 1usize;
        for i in (0..8).rev() {
            let bit = (byte >> i) & 1 == 1;
            enc.encode_bit(&mut self.trees[base + node], bit);
            node = (node << 1) | bit as usize;
        }
    }

    fn decode(&mut self, dec: &mut RangeDecoder, prev: u8) -> u8 {
        let base = prev as usize * 256;
        let mut node = 1usize;
        for _ in 0..8 {
            let bit = dec.decode_bit(&mut self.trees[base + node]);
            node = (node << 1) | bit as usize;
        }
        (node - 256) as u8
    }
}

/// Squeezes `raw` (see the module docs for the layout).
pub fn squeeze(raw: &[u8]) -> Vec<u8> {
    let mut model = ByteModel::primed();
    let mut enc = RangeEncoder::new();
    let mut prev = 0u8;
    for &b in raw {
        model.encode(&mut enc, prev, b);
        prev = b;
    }
    let coded = enc.finish();
    let mut out = Vec::with_capacity(coded.len() + 6);
    if coded.len() + 5 < raw.len() {
        out.push(1);
        put_varint(&mut out, raw.len() as u64);
        out.extend_from_slice(&coded);
    } else {
        out.push(0);
        out.extend_from_slice(raw);
    }
    out
}

/// A coded header expands to at most this many times its coded length
/// (plus [`EXPANSION_SLACK`]). Real headers code at 1.2–2× (CF attribute text,
/// coordinates); the adaptive model could in principle reach ~3000× on a
/// constant text, which no header is.
pub const MAX_EXPANSION: u64 = 32;
/// Raw header bytes always allowed, whatever the coded length.
pub const EXPANSION_SLACK: u64 = 64 * 1024;

/// Reverses [`squeeze`]. The raw length is capped by `max_raw` so a hostile
/// length cannot make the reader allocate without bound.
pub fn unsqueeze(block: &[u8], max_raw: usize) -> Result<Vec<u8>> {
    match block.split_first() {
        None => Err(Error::Truncated("header block is empty".into())),
        Some((0, raw)) => Ok(raw.to_vec()),
        Some((1, rest)) => {
            let mut c = Cursor::new(rest, "header raw length");
            let len = c.varint()?;
            let coded = &rest[c.position()..];
            // The raw length must be justified by the coded bytes: no real
            // header codes to less than 1/MAX_EXPANSION of its length, so a
            // hostile length costs at most a small multiple of the bytes given.
            let justified = (coded.len() as u64)
                .saturating_mul(MAX_EXPANSION)
                .saturating_add(EXPANSION_SLACK);
            if len > max_raw as u64 || len > justified {
                return Err(Error::Corrupt(format!(
                    "header claims {len} bytes uncompressed from {} coded bytes, more than the \
                     {} allowed",
                    coded.len(),
                    justified.min(max_raw as u64)
                )));
            }
            let mut model = ByteModel::primed();
            let mut dec = RangeDecoder::new(coded);
            let mut out = Vec::with_capacity((len as usize).min(1 << 20));
            let mut prev = 0u8;
            for i in 0..len {
                if i % 4096 == 0 && dec.overrun() {
                    break;
                }
                let b = model.decode(&mut dec, prev);
                out.push(b);
                prev = b;
            }
            if dec.overrun() {
                return Err(Error::Truncated("compressed header ends early".into()));
            }
            Ok(out)
        }
        Some((k, _)) => Err(Error::Corrupt(format!("unknown header coding {k}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_shrinks_cf_text() {
        let text =
            b"\x05units\x01K\x09long_name\x0bTemperature\x0dstandard_name\x0fair_temperature\
            history 2024-01-01 Created by cfgrib; GRIB_paramId 130 GRIB_units K degrees_north";
        let s = squeeze(text);
        assert!(
            s.len() * 5 < text.len() * 4,
            "{} vs {}",
            s.len(),
            text.len()
        );
        assert_eq!(unsqueeze(&s, 1 << 20).unwrap(), text);
        let bin: Vec<u8> = (0..50u32).map(|i| (i * 97 % 256) as u8).collect();
        let s = squeeze(&bin);
        assert_eq!(unsqueeze(&s, 1 << 20).unwrap(), bin);
        assert!(unsqueeze(&[], 10).is_err());
        assert!(unsqueeze(&[7, 1, 2], 10).is_err());
        let s = squeeze(text);
        assert!(unsqueeze(&s, 10).is_err());
        assert!(unsqueeze(&s[..s.len() / 2], 1 << 20).is_err());
    }
}
