//! GRIB edition 1 (WMO FM 92 GRIB edition 1): the indicator section, the
//! product definition section (with ECMWF's local MARS labelling for the
//! ensemble member), the grid description (regular lat/lon), the bitmap and
//! the binary data section with simple grid-point packing.

use hiha_core::meta::{Attr, AttrValue};

use super::bitmap;
use super::bytes::Octets;
use super::error::{corrupt, GribError, GribResult};
use super::latlon::{grib1_grid_name, GridDef, LatLonGrid};
use super::level;
use super::message::{GribField, ParamKey, Step, StepType};
use super::numbers::ibm_to_f64;
use super::packing::Packing;
use super::simple::Scaling;
use super::time::{epoch_seconds, grib1_unit_seconds, span};

/// The length of the GRIB1 message at the start of `msg` (octets 5–7).
pub fn message_len(msg: &[u8]) -> GribResult<usize> {
    let o = Octets::new(msg, "GRIB1 indicator section");
    let len = o.uint(5, 3)? as usize;
    if len & 0x80_0000 != 0 {
        return Err(GribError::Unsupported(
            "a GRIB1 message longer than 8 MB (ECMWF's large-message encoding)".into(),
        ));
    }
    Ok(len)
}

/// One section: its octets (1-based) and where it starts in the message.
fn section<'a>(msg: &'a [u8], start: usize, what: &'static str) -> GribResult<(Octets<'a>, usize)> {
    let head = Octets::new(msg.get(start..).unwrap_or(&[]), what);
    let len = head.uint(1, 3)? as usize;
    if len < 3 {
        return Err(corrupt(format!("{what} has length {len}")));
    }
    let end = start
        .checked_add(len)
        .filter(|&e| e <= msg.len().saturating_sub(4))
        .ok_or_else(|| {
            corrupt(format!(
                "{what} ({len} octets at octet {}) runs past the end of the message",
                start + 1
            ))
        })?;
    Ok((Octets::new(&msg[start..end], what), end))
}

fn text(k: &str, v: impl Into<String>) -> Attr {
    Attr::new(k, AttrValue::Text(v.into()))
}
fn int(k: &str, v: i64) -> Attr {
    Attr::new(
        k,
        AttrValue::I32(vec![v.clamp(i32::MIN as i64, i32::MAX as i64) as i32]),
    )
}

/// Parses a GRIB1 message (`msg` is the whole message, `offset` its position
/// in the file, `index` the number of fields before it).
pub fn parse(msg: &[u8], offset: usize, index: usize) -> GribResult<GribField> {
    let (pds, mut pos) = section(msg, 8, "GRIB1 section 1")?;
    let table = pds.u8(4)?;
    let centre = pds.u8(5)?;
    let flag = pds.u8(8)?;
    let param_number = pds.u8(9)?;
    let level_type = pds.u8(10)?;
    let level_octets = [pds.u8(11)?, pds.u8(12)?];
    let year_of_century = i64::from(pds.u8(13)?);
    let century = i64::from(pds.u8(25)?);
    let year = (century - 1) * 100 + year_of_century;
    let ref_time = epoch_seconds(year, pds.u8(14)?, pds.u8(15)?, pds.u8(16)?, pds.u8(17)?, 0)?;
    let unit = pds.u8(18)?;
    let p1 = i64::from(pds.u8(19)?);
    let p2 = i64::from(pds.u8(20)?);
    let tri = pds.u8(21)?;
    let sub_centre = pds.u8(26)?;
    let decimal_scale = pds.signed(27, 2)?;
    let secs = |n: i64| -> GribResult<i64> {
        if n == 0 {
            Ok(0)
        } else {
            span(n, grib1_unit_seconds(unit)?)
        }
    };
    let step = match tri {
        0 | 1 => Step {
            start: secs(p1)?,
            end: secs(p1)?,
            kind: StepType::Instant,
        },
        10 => {
            let p = secs(p1 * 256 + p2)?;
            Step {
                start: p,
                end: p,
                kind: StepType::Instant,
            }
        }
        2..=5 => Step {
            start: secs(p1)?,
            end: secs(p2)?,
            kind: match tri {
                // As ecCodes: a "range" is a maximum at ECMWF, an accumulation elsewhere.
                2 if centre == 98 => StepType::Max,
                2 => StepType::Accum,
                3 => StepType::Avg,
                4 => StepType::Accum,
                _ => StepType::Diff,
            },
        },
        t => {
            return Err(GribError::Unsupported(format!(
                "GRIB1 time range indicator {t} (hiha reads 0-5 and 10)"
            )))
        }
    };
    let mut attrs = vec![
        int("GRIB_table2Version", i64::from(table)),
        int("GRIB_indicatorOfParameter", i64::from(param_number)),
        int("GRIB_indicatorOfTypeOfLevel", i64::from(level_type)),
        int("GRIB_timeRangeIndicator", i64::from(tri)),
        int("GRIB_generatingProcessIdentifier", i64::from(pds.u8(6)?)),
    ];
    // ECMWF's local section: MARS labelling and the ensemble member.
    let mut number = None;
    if centre == 98 && pds.len() >= 50 {
        let local = pds.u8(41)?;
        attrs.push(int("GRIB_localDefinitionNumber", i64::from(local)));
        let class = pds.u8(42)?;
        let kind = pds.u8(43)?;
        let stream = pds.u16(44)?;
        let expver = pds.range(46, 49)?;
        attrs.push(int("GRIB_marsClass", i64::from(class)));
        attrs.push(int("GRIB_marsType", i64::from(kind)));
        attrs.push(int("GRIB_marsStream", i64::from(stream)));
        if expver.iter().all(|b| b.is_ascii_graphic()) {
            attrs.push(text(
                "GRIB_experimentVersionNumber",
                String::from_utf8_lossy(expver),
            ));
        }
        number = match local {
            1 | 13 | 14 | 17 | 18 | 19 | 26 | 27 | 28 | 30 | 31 | 36 | 37 | 40 | 49 | 50 | 218 => {
                Some(i64::from(pds.u8(50)?))
            }
            12 | 15 | 16 | 23 => Some(i64::from(pds.u16(50)?)),
            _ => None,
        };
    }
    let level = level::grib1(level_type, level_octets);

    // Grid description.
    let grid = if flag & 0x80 != 0 {
        let (gds, end) = section(msg, pos, "GRIB1 section 2 (grid description)")?;
        pos = end;
        parse_grid(&gds)?
    } else {
        GridDef::Other {
            grid_type: format!("predefined grid {}", pds.u8(7)?),
            detail: "GRIB1 message without a grid description section".into(),
        }
    };
    let num_points = match &grid {
        GridDef::RegularLatLon(g) => {
            g.ni.checked_mul(g.nj)
                .ok_or_else(|| corrupt("the grid size overflows"))?
        }
        GridDef::Other { .. } => 0,
    };

    // Bitmap.
    let mut bitmap = None;
    if flag & 0x40 != 0 {
        let (bms, end) = section(msg, pos, "GRIB1 section 3 (bitmap)")?;
        let predefined = bms.u16(5)?;
        if predefined != 0 {
            return Err(GribError::Unsupported(format!(
                "GRIB1 predefined bitmap {predefined}"
            )));
        }
        bitmap = Some(offset + pos + 6..offset + end);
        pos = end;
    }

    // Binary data section.
    let (bds, end) = section(msg, pos, "GRIB1 section 4 (binary data)")?;
    let flags = bds.u8(4)?;
    let packing = if flags & 0x80 != 0 {
        Packing::Unsupported("spectral_complex/spectral_simple (spherical harmonics)".into())
    } else if flags & 0x40 != 0 {
        Packing::Unsupported("grid_second_order (GRIB1 complex packing)".into())
    } else if flags & 0x10 != 0 {
        Packing::Unsupported("GRIB1 packing with additional flags".into())
    } else {
        let scaling = Scaling {
            reference: ibm_to_f64(bds.u32(7)?),
            binary_scale: bds.signed(5, 2)?,
            decimal_scale,
            bits: u32::from(bds.u8(11)?),
        };
        let coded = match &bitmap {
            Some(r) => bitmap::count_ones(
                msg.get(r.start - offset..r.end - offset).unwrap_or(&[]),
                num_points,
            )?,
            None => num_points,
        };
        Packing::Simple {
            scaling,
            coded,
            data: offset + pos + 11..offset + end,
        }
    };
    attrs.push(int("GRIB_subCentre", i64::from(sub_centre)));
    Ok(GribField {
        index,
        offset,
        message_len: msg.len(),
        edition: 1,
        centre: u16::from(centre),
        sub_centre: u16::from(sub_centre),
        param: ParamKey::Grib1 {
            table,
            number: param_number,
        },
        product: 1000 + u16::from(tri),
        level,
        number,
        ref_time,
        step,
        grid,
        num_points,
        packing,
        bitmap,
        attrs,
    })
}

/// GRIB1 section 2: a regular lat/lon grid (data representation type 0)
/// or the name of another grid.
fn parse_grid(gds: &Octets<'_>) -> GribResult<GridDef> {
    let kind = gds.u8(6)?;
    let nv = gds.u8(4)?;
    let pvl = gds.u8(5)?;
    if kind != 0 {
        let mut name = grib1_grid_name(kind);
        if kind == 4 && gds.u16(7)? == 0xffff {
            name = "reduced_gg".into();
        }
        return Ok(GridDef::Other {
            grid_type: name,
            detail: format!("GRIB1 data representation type {kind}"),
        });
    }
    let ni = gds.u16(7)?;
    if ni == 0xffff || (pvl != 255 && nv == 0) {
        return Ok(GridDef::Other {
            grid_type: "reduced_ll".into(),
            detail: "GRIB1 data representation type 0 with rows of different lengths".into(),
        });
    }
    let flags = gds.u8(17)?;
    let given = flags & 0x80 != 0;
    let di = gds.u16(24)?;
    let dj = gds.u16(26)?;
    let g = LatLonGrid {
        ni: usize::from(ni),
        nj: usize::from(gds.u16(9)?),
        lat1: gds.signed(11, 3)?,
        lon1: gds.signed(14, 3)?,
        lat2: gds.signed(18, 3)?,
        lon2: gds.signed(21, 3)?,
        di: (given && di != 0xffff).then_some(i64::from(di)),
        dj: (given && dj != 0xffff).then_some(i64::from(dj)),
        num: 1,
        den: 1000,
        scanning: gds.u8(28)?,
    };
    g.check()?;
    Ok(GridDef::RegularLatLon(g))
}
