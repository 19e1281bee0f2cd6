//! GRIB edition 2 (WMO FM 92 GRIB edition 2): sections 0–8, with sections
//! 2–7, 3–7 or 4–7 repeated for several fields in one message. Reads grid
//! template 3.0 (regular lat/lon), product templates 4.0, 4.1, 4.2, 4.8,
//! 4.11, 4.12 (and their chemical-constituent twins 4.40–4.43), data
//! representation templates 5.0, 5.2, 5.3 and 5.42, and bitmaps.

use std::ops::Range;

use hiha_core::meta::{Attr, AttrValue};

use super::bytes::Octets;
use super::ccsds::CcsdsParams;
use super::complex::ComplexParams;
use super::error::{corrupt, unsupported, GribResult};
use super::latlon::{grib2_grid_name, GridDef, LatLonGrid};
use super::level::{self, Surface};
use super::message::{GribField, ParamKey, Step, StepType};
use super::numbers::ieee_to_f64;
use super::packing::Packing;
use super::simple::Scaling;
use super::time::{epoch_seconds, grib2_unit_seconds, span};

/// The length of the GRIB2 message at the start of `msg` (octets 9–16).
pub fn message_len(msg: &[u8]) -> GribResult<usize> {
    let o = Octets::new(msg, "GRIB2 indicator section");
    let len = o.uint(9, 8)?;
    usize::try_from(len).map_err(|_| corrupt(format!("a GRIB2 message of {len} bytes")))
}

fn int(k: &str, v: i64) -> Attr {
    Attr::new(
        k,
        AttrValue::I32(vec![
            v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
        ]),
    )
}

/// What section 4 says about a field.
struct Product {
    param: (u8, u8),
    product: u16,
    level: level::Level,
    number: Option<i64>,
    step: Step,
    /// The end of the overall statistical interval (seconds since 1970),
    /// when it has several time ranges.
    end_time: Option<i64>,
    attrs: Vec<Attr>,
}

/// Parses a GRIB2 message into its fields.
pub fn parse(msg: &[u8], offset: usize, first_index: usize) -> GribResult<Vec<GribField>> {
    let sec0 = Octets::new(msg, "GRIB2 indicator section");
    let discipline = sec0.u8(7)?;
    let end = msg.len() - 4; // "7777", checked by the caller
    let mut pos = 16usize;
    let mut sec1: Option<Octets<'_>> = None;
    let mut grid: Option<(GridDef, usize, Vec<Attr>)> = None;
    let mut product: Option<Product> = None;
    let mut packing: Option<(u32, u16, Octets<'_>)> = None;
    let mut bitmap: Option<Option<Range<usize>>> = None;
    let mut last_bitmap: Option<Range<usize>> = None;
    let mut out = Vec::new();
    while pos < end {
        let head = Octets::new(&msg[pos..end], "a GRIB2 section header");
        let len = head.u32(1)? as usize;
        let number = head.u8(5)?;
        if len < 5 {
            return Err(corrupt(format!(
                "GRIB2 section {number} at octet {} has length {len}",
                pos + 1
            )));
        }
        let stop = pos.checked_add(len).filter(|&e| e <= end).ok_or_else(|| {
            corrupt(format!(
                "GRIB2 section {number} ({len} octets at octet {}) runs past the end of the message",
                pos + 1
            ))
        })?;
        let s = |what| Octets::new(&msg[pos..stop], what);
        match number {
            1 => sec1 = Some(s("GRIB2 section 1")),
            2 => {}
            3 => grid = Some(parse_grid(&s("GRIB2 section 3"))?),
            4 => {
                let centre = match &sec1 {
                    Some(o) => o.u16(6)?,
                    None => return Err(corrupt("GRIB2 section 4 comes before section 1")),
                };
                product = Some(parse_product(&s("GRIB2 section 4"), centre)?);
            }
            5 => {
                let o = s("GRIB2 section 5");
                packing = Some((o.u32(6)?, o.u16(10)?, o));
            }
            6 => {
                let o = s("GRIB2 section 6");
                let indicator = o.u8(6)?;
                bitmap = Some(match indicator {
                    0 => {
                        let r = offset + pos + 6..offset + stop;
                        last_bitmap = Some(r.clone());
                        Some(r)
                    }
                    254 => Some(last_bitmap.clone().ok_or_else(|| {
                        corrupt("bitmap indicator 254 (previous bitmap) but no bitmap before it")
                    })?),
                    255 => None,
                    n => {
                        return Err(unsupported(format!(
                            "predefined bitmap {n} (bitmap indicator, code table 6.0)"
                        )))
                    }
                });
            }
            7 => {
                let index = first_index + out.len();
                let missing = |what: &str| {
                    corrupt(format!(
                        "the field {} of the message at byte {offset} has no section {what}",
                        out.len() + 1
                    ))
                };
                let s1 = sec1.as_ref().ok_or_else(|| missing("1"))?;
                let (g, points, grid_attrs) = grid.as_ref().ok_or_else(|| missing("3"))?;
                let p = product.as_ref().ok_or_else(|| missing("4"))?;
                let (coded, template, s5) = packing.as_ref().ok_or_else(|| missing("5"))?;
                let bm = bitmap.clone().ok_or_else(|| missing("6"))?;
                let data = offset + pos + 5..offset + stop;
                let field = build(
                    s1,
                    discipline,
                    g,
                    *points,
                    grid_attrs,
                    p,
                    *coded,
                    *template,
                    s5,
                    bm,
                    data,
                    offset,
                    msg.len(),
                    index,
                )?;
                out.push(field);
            }
            n => {
                return Err(corrupt(format!(
                    "unknown GRIB2 section number {n} at octet {}",
                    pos + 1
                )))
            }
        }
        pos = stop;
    }
    if out.is_empty() {
        return Err(corrupt(format!(
            "the GRIB2 message at byte {offset} holds no data section"
        )));
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn build(
    s1: &Octets<'_>,
    discipline: u8,
    grid: &GridDef,
    points: usize,
    grid_attrs: &[Attr],
    p: &Product,
    coded: u32,
    template: u16,
    s5: &Octets<'_>,
    bitmap: Option<Range<usize>>,
    data: Range<usize>,
    offset: usize,
    message_len: usize,
    index: usize,
) -> GribResult<GribField> {
    let centre = s1.u16(6)?;
    let sub_centre = s1.u16(8)?;
    let year = i64::from(s1.u16(13)?);
    let ref_time = epoch_seconds(
        year,
        s1.u8(15)?,
        s1.u8(16)?,
        s1.u8(17)?,
        s1.u8(18)?,
        s1.u8(19)?,
    )?;
    let mut step = p.step;
    if let Some(t) = p.end_time {
        step.end = t
            .checked_sub(ref_time)
            .ok_or_else(|| corrupt("the end of the time range overflows"))?;
    }
    let coded = coded as usize;
    let packing = parse_packing(s5, template, coded, data)?;
    let mut attrs = vec![
        int("GRIB_discipline", i64::from(discipline)),
        int("GRIB_parameterCategory", i64::from(p.param.0)),
        int("GRIB_parameterNumber", i64::from(p.param.1)),
        int("GRIB_tablesVersion", i64::from(s1.u8(10)?)),
        int("GRIB_localTablesVersion", i64::from(s1.u8(11)?)),
        int("GRIB_significanceOfReferenceTime", i64::from(s1.u8(12)?)),
        int(
            "GRIB_productionStatusOfProcessedData",
            i64::from(s1.u8(20)?),
        ),
        int("GRIB_typeOfProcessedData", i64::from(s1.u8(21)?)),
        int("GRIB_productDefinitionTemplateNumber", i64::from(p.product)),
        int("GRIB_dataRepresentationTemplateNumber", i64::from(template)),
        int("GRIB_subCentre", i64::from(sub_centre)),
    ];
    attrs.extend(p.attrs.iter().cloned());
    attrs.extend(grid_attrs.iter().cloned());
    if bitmap.is_none() && coded != points && matches!(grid, GridDef::RegularLatLon(_)) {
        return Err(corrupt(format!(
            "field {} codes {coded} values for a grid of {points} points and has no bitmap",
            index + 1
        )));
    }
    Ok(GribField {
        index,
        offset,
        message_len,
        edition: 2,
        centre,
        sub_centre,
        param: ParamKey::Grib2 {
            discipline,
            category: p.param.0,
            number: p.param.1,
        },
        product: p.product,
        level: p.level.clone(),
        number: p.number,
        ref_time,
        step,
        grid: grid.clone(),
        num_points: points,
        packing,
        bitmap,
        attrs,
    })
}

/// Section 3: the grid, its number of points, and attributes.
fn parse_grid(o: &Octets<'_>) -> GribResult<(GridDef, usize, Vec<Attr>)> {
    let points = o.u32(7)? as usize;
    let pl_octets = o.u8(11)?;
    let template = o.u16(13)?;
    let attrs = vec![int(
        "GRIB_gridDefinitionTemplateNumber",
        i64::from(template),
    )];
    if template != 0 {
        return Ok((
            GridDef::Other {
                grid_type: grib2_grid_name(template),
                detail: format!("GRIB2 grid definition template 3.{template}"),
            },
            points,
            attrs,
        ));
    }
    if pl_octets != 0 {
        return Ok((
            GridDef::Other {
                grid_type: "reduced_ll".into(),
                detail: "GRIB2 grid definition template 3.0 with rows of different lengths".into(),
            },
            points,
            attrs,
        ));
    }
    let ni = o.u32(31)?;
    let nj = o.u32(35)?;
    if ni == u32::MAX {
        return Ok((
            GridDef::Other {
                grid_type: "reduced_ll".into(),
                detail: "GRIB2 grid definition template 3.0 without Ni".into(),
            },
            points,
            attrs,
        ));
    }
    let basic = o.u32(39)?;
    let sub = o.u32(43)?;
    let (num, den) = if basic == 0 || basic == u32::MAX || sub == 0 || sub == u32::MAX {
        (1, 1_000_000)
    } else {
        (i64::from(basic), i64::from(sub))
    };
    let flags = o.u8(55)?;
    let di = o.u32(64)?;
    let dj = o.u32(68)?;
    let g = LatLonGrid {
        ni: ni as usize,
        nj: nj as usize,
        lat1: o.signed(47, 4)?,
        lon1: o.signed(51, 4)?,
        lat2: o.signed(56, 4)?,
        lon2: o.signed(60, 4)?,
        di: (flags & 0x20 != 0 && di != u32::MAX).then_some(i64::from(di)),
        dj: (flags & 0x10 != 0 && dj != u32::MAX).then_some(i64::from(dj)),
        num,
        den,
        scanning: o.u8(72)?,
    };
    g.check()?;
    let n =
        g.ni.checked_mul(g.nj)
            .filter(|&n| n == points)
            .ok_or_else(|| {
                corrupt(format!(
                    "the grid has {} × {} points but section 3 announces {points}",
                    g.ni, g.nj
                ))
            })?;
    let mut attrs = attrs;
    attrs.push(int("GRIB_shapeOfTheEarth", i64::from(o.u8(15)?)));
    Ok((GridDef::RegularLatLon(g), n, attrs))
}

/// Section 4: parameter, level, ensemble member, step.
fn parse_product(o: &Octets<'_>, centre: u16) -> GribResult<Product> {
    let template = o.u16(8)?;
    // Templates 4.40-4.43 are 4.0, 4.1, 4.8, 4.11 with a constituent type
    // (2 octets) after the parameter number.
    let (base, shift) = match template {
        40 => (0, 2),
        41 => (1, 2),
        42 => (8, 2),
        43 => (11, 2),
        t @ (0 | 1 | 2 | 8 | 11 | 12) => (t, 0),
        t => {
            return Err(unsupported(format!(
                "GRIB2 product definition template 4.{t} (hiha reads 4.0, 4.1, 4.2, 4.8, 4.11, \
                 4.12 and 4.40-4.43)"
            )))
        }
    };
    let at = |k: usize| k + shift;
    let mut attrs = vec![
        int("GRIB_typeOfGeneratingProcess", i64::from(o.u8(at(12))?)),
        int("GRIB_generatingProcessIdentifier", i64::from(o.u8(at(14))?)),
    ];
    if shift > 0 {
        attrs.push(int("GRIB_constituentType", i64::from(o.u16(12)?)));
    }
    let unit = o.u8(at(18))?;
    let forecast = o.signed(at(19), 4)?;
    let start = if forecast == 0 {
        0
    } else {
        span(forecast, grib2_unit_seconds(unit)?)?
    };
    let surface = |k: usize| -> GribResult<Surface> {
        Ok(Surface {
            kind: o.u8(at(k))?,
            scale: o.u8(at(k + 1))?,
            value: o.u32(at(k + 2))?,
        })
    };
    let level = level::grib2(surface(23)?, surface(29)?, centre);
    attrs.push(int(
        "GRIB_typeOfFirstFixedSurface",
        i64::from(level.first_type),
    ));
    if let Some(t) = level.second_type {
        attrs.push(int("GRIB_typeOfSecondFixedSurface", i64::from(t)));
    }
    let number = match base {
        1 | 11 => Some(i64::from(o.u8(at(36))?)),
        _ => None,
    };
    if matches!(base, 2 | 12) {
        attrs.push(int("GRIB_derivedForecast", i64::from(o.u8(at(35))?)));
    }
    // Statistical processing: end of the overall interval, then the ranges.
    let stat_at = match base {
        8 => Some(35),
        11 => Some(38),
        12 => Some(37),
        _ => None,
    };
    let mut end_time = None;
    let step = match stat_at {
        None => Step {
            start,
            end: start,
            kind: StepType::Instant,
        },
        Some(e) => {
            let n_ranges = o.u8(at(e + 7))?;
            let first = at(e + 12);
            let kind_code = o.u8(first)?;
            attrs.push(int(
                "GRIB_typeOfStatisticalProcessing",
                i64::from(kind_code),
            ));
            let end = if n_ranges == 1 {
                let len = o.u32(first + 3)?;
                let unit = o.u8(first + 2)?;
                let len_s = if len == 0 {
                    0
                } else {
                    span(i64::from(len), grib2_unit_seconds(unit)?)?
                };
                start
                    .checked_add(len_s)
                    .ok_or_else(|| corrupt("the end of the time range overflows"))?
            } else {
                // Several ranges: the end of the overall interval, made
                // relative to the reference time by the caller.
                end_time = Some(epoch_seconds(
                    i64::from(o.u16(at(e))?),
                    o.u8(at(e + 2))?,
                    o.u8(at(e + 3))?,
                    o.u8(at(e + 4))?,
                    o.u8(at(e + 5))?,
                    o.u8(at(e + 6))?,
                )?);
                start
            };
            Step {
                start,
                end,
                kind: StepType::from_grib2(kind_code),
            }
        }
    };
    Ok(Product {
        param: (o.u8(10)?, o.u8(11)?),
        product: template,
        level,
        number,
        step,
        end_time,
        attrs,
    })
}

/// Section 5: the packing of section 7's data (`data`, absolute bytes).
fn parse_packing(
    o: &Octets<'_>,
    template: u16,
    coded: usize,
    data: Range<usize>,
) -> GribResult<Packing> {
    let named = |n: &str| Ok(Packing::Unsupported(n.to_string()));
    let scaling = || -> GribResult<Scaling> {
        Ok(Scaling {
            reference: ieee_to_f64(o.u32(12)?)?,
            binary_scale: o.signed(16, 2)?,
            decimal_scale: o.signed(18, 2)?,
            bits: u32::from(o.u8(20)?),
        })
    };
    match template {
        0 => Ok(Packing::Simple {
            scaling: scaling()?,
            coded,
            data,
        }),
        2 | 3 => {
            let spatial = template == 3;
            let params = ComplexParams {
                missing_management: o.u8(23)?,
                groups: o.u32(32)?,
                width_reference: o.u8(36)?,
                width_bits: o.u8(37)?,
                length_reference: o.u32(38)?,
                length_increment: o.u8(42)?,
                last_length: o.u32(43)?,
                length_bits: o.u8(47)?,
                order: if spatial { o.u8(48)? } else { 0 },
                extra_octets: if spatial { o.u8(49)? } else { 0 },
            };
            if spatial && !(1..=2).contains(&params.order) {
                return Err(unsupported(format!(
                    "order of spatial differencing {} (code table 5.6 defines 1 and 2)",
                    params.order
                )));
            }
            Ok(Packing::Complex {
                scaling: scaling()?,
                coded,
                params,
                data,
            })
        }
        42 => Ok(Packing::Ccsds {
            scaling: scaling()?,
            coded,
            params: CcsdsParams {
                flags: o.u8(22)?,
                block_size: o.u8(23)?,
                rsi: o.u16(24)?,
            },
            data,
        }),
        4 => named("grid_ieee"),
        40 => named("grid_jpeg (JPEG 2000)"),
        41 => named("grid_png"),
        50 => named("spectral_simple"),
        51 => named("spectral_complex"),
        61 => named("grid_simple_log_preprocessing"),
        200 => named("grid_run_length"),
        t => named(&format!("data representation template 5.{t}")),
    }
}
