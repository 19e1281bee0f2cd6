//! Vertical levels: ecCodes' `typeOfLevel` names and `level` values, and the
//! CF attributes of a level coordinate (as cfgrib writes them).

use hiha_core::meta::{Attr, AttrValue};

/// The level of a field.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// ecCodes' `typeOfLevel` (`isobaricInhPa`, `surface`, …), or
    /// `level<N>` for a type ecCodes does not name either.
    pub type_name: String,
    /// GRIB1 indicator of type of level, or GRIB2 type of first fixed surface.
    pub first_type: u8,
    /// GRIB2 type of second fixed surface (None when missing, 255); GRIB1 layers give
    /// their type here again.
    pub second_type: Option<u8>,
    /// ecCodes' `level`: the value of the (first) surface, in the units
    /// of [`Level::units`].
    pub value: f64,
    /// The second surface of a layer, in the same units.
    pub bottom: Option<f64>,
    /// The units of `value` (UDUNITS spelling), `1` when it is a number.
    pub units: &'static str,
}

impl Level {
    /// A level identity that can be hashed and compared: the bit patterns of
    /// both values (levels are read from integers, never NaN).
    pub fn key(&self) -> (u64, Option<u64>) {
        (self.value.to_bits(), self.bottom.map(f64::to_bits))
    }
}

/// GRIB1: code table 3 (ecCodes' `grib1/typeOfLevel.def`), the two octets
/// of the level (`level` as one 16-bit number, or top and bottom octets of
/// a layer).
pub fn grib1(indicator: u8, octets: [u8; 2]) -> Level {
    let layer = matches!(
        indicator,
        101 | 104 | 106 | 108 | 110 | 112 | 114 | 116 | 120 | 121 | 128 | 141
    );
    let (value, bottom) = if layer {
        (f64::from(octets[0]), Some(f64::from(octets[1])))
    } else {
        (f64::from(u16::from_be_bytes(octets)), None)
    };
    let (name, units): (&str, &'static str) = match indicator {
        1 => ("surface", "1"),
        2 => ("cloudBase", "1"),
        3 => ("cloudTop", "1"),
        4 => ("isothermZero", "1"),
        5 => ("adiabaticCondensation", "1"),
        6 => ("maxWind", "1"),
        7 => ("tropopause", "1"),
        8 => ("nominalTop", "1"),
        9 => ("seaBottom", "1"),
        100 => ("isobaricInhPa", "hPa"),
        101 => ("isobaricLayer", "kPa"),
        102 => ("meanSea", "1"),
        103 => ("heightAboveSea", "m"),
        104 => ("heightAboveSeaLayer", "hm"),
        105 => ("heightAboveGround", "m"),
        106 => ("heightAboveGroundLayer", "hm"),
        107 => ("sigma", "1e-4"),
        108 => ("sigmaLayer", "1e-2"),
        109 => ("hybrid", "1"),
        110 => ("hybridLayer", "1"),
        111 => ("depthBelowLand", "cm"),
        112 => ("depthBelowLandLayer", "cm"),
        113 => ("theta", "K"),
        114 => ("thetaLayer", "K"),
        115 => ("pressureFromGround", "hPa"),
        116 => ("pressureFromGroundLayer", "hPa"),
        117 => ("potentialVorticity", "1e-9 K m2 kg-1 s-1"),
        121 => ("isobaricLayerHighPrecision", "1"),
        125 => ("heightAboveGroundHighPrecision", "cm"),
        128 => ("sigmaLayerHighPrecision", "1"),
        141 => ("isobaricLayerMixedPrecision", "1"),
        160 => ("depthBelowSea", "m"),
        200 => ("entireAtmosphere", "1"),
        201 => ("entireOcean", "1"),
        210 => ("isobaricInPa", "Pa"),
        _ => ("", "1"),
    };
    let type_name = if name.is_empty() {
        format!("level{indicator}")
    } else {
        name.to_string()
    };
    Level {
        type_name,
        first_type: indicator,
        second_type: layer.then_some(indicator),
        value,
        bottom,
        units,
    }
}

/// A GRIB2 fixed surface: type (code table 4.5), scale factor and scaled
/// value, as read from section 4 (the scaled value as its raw 4 octets).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Surface {
    pub kind: u8,
    pub scale: u8,
    pub value: u32,
}

/// The value of a GRIB2 fixed surface as ecCodes computes `level`
/// (`G2Level`): `value · 10^-scale` by repeated multiplication or division
/// (stopping at zero), the scale of a potential-vorticity surface less 9.
/// Missing values give 0. Returns the value and what is left of the scale
/// (`None` when the scale is missing). The scaled value is read as sign and
/// magnitude (ecCodes reads it unsigned, so that −2 PVU comes out as
/// 2147485648 there).
fn scaled(s: Surface) -> (f64, Option<i64>) {
    if s.value == u32::MAX {
        return (0.0, Some(0));
    }
    let magnitude = f64::from(s.value & 0x7fff_ffff);
    let mut v = if s.value & 0x8000_0000 != 0 {
        -magnitude
    } else {
        magnitude
    };
    if s.scale == 0xff {
        return (v, None);
    }
    let mut scale = i64::from(s.scale as i8);
    if s.kind == 109 {
        scale -= 9;
    }
    while scale < 0 && v != 0.0 {
        v *= 10.0;
        scale += 1;
    }
    while scale > 0 && v != 0.0 {
        v /= 10.0;
        scale -= 1;
    }
    (v, Some(scale))
}

/// ecCodes' `level` of a surface, and whether an isobaric surface is below
/// 1 hPa, so that ecCodes gives it in Pa (`isobaricInPa`); otherwise
/// pressures are whole hPa (truncated toward zero, as ecCodes does).
fn surface_value(s: Surface) -> (f64, bool) {
    let (v, scale) = scaled(s);
    if s.kind != 100 || s.value == u32::MAX {
        return (v, false);
    }
    let hpa = (v / 100.0).trunc();
    if scale == Some(0) && hpa == 0.0 {
        (v, true)
    } else {
        (hpa, false)
    }
}

/// GRIB2: the level of a field from its two fixed surfaces (code table 4.5
/// names from ecCodes' `typeOfLevelConcept.def`, NCEP's local types from
/// its `kwbc` concepts when the centre is NCEP).
pub fn grib2(first: Surface, second: Surface, centre: u16) -> Level {
    let second_type = (second.kind != 255).then_some(second.kind);
    // Pressures below 1 hPa are in Pa (ecCodes switches `pressureUnits`).
    let (value, pa) = surface_value(first);
    let bottom = second_type.map(|_| surface_value(second).0);
    let (name, units): (&str, &'static str) = match (first.kind, second_type) {
        (1, None) => ("surface", "1"),
        (1, Some(7)) => ("troposphere", "1"),
        (1, Some(8)) => ("entireAtmosphere", "1"),
        (1, Some(9)) => ("entireOcean", "1"),
        (1, Some(162)) => ("entireLake", "1"),
        (1, Some(151)) => ("totalSoilLayer", "1"),
        (1, Some(167)) => ("rootZone", "1"),
        (2, None) => ("cloudBase", "1"),
        (3, None) => ("cloudTop", "1"),
        (4, None) => ("isothermZero", "1"),
        (5, None) => ("adiabaticCondensation", "1"),
        (6, None) => ("maxWind", "1"),
        (7, None) => ("tropopause", "1"),
        (7, Some(36)) => ("stratosphere", "1"),
        (8, None) => ("nominalTop", "1"),
        (9, None) => ("seaBottom", "1"),
        (10, None) => ("atmosphere", "1"),
        (11, None) => ("cumulonimbusBase", "1"),
        (12, None) => ("cumulonimbusTop", "1"),
        (14, None) => ("freeConvection", "1"),
        (15, None) => ("convectiveCondensation", "1"),
        (16, None) => ("neutralBuoyancy", "1"),
        (17, None) => ("mostUnstableParcel", "1"),
        (18, None) => ("mixedLayerParcel", "1"),
        (19, None) => ("lowestLevelOfCloudCoverExceedance", "1"),
        (20, None) => ("isothermal", "K"),
        (100, None) if pa => ("isobaricInPa", "Pa"),
        (100, None) => ("isobaricInhPa", "hPa"),
        (100, Some(100)) => ("isobaricLayer", "hPa"),
        (101, None) => ("meanSea", "1"),
        (102, None) => ("heightAboveSea", "m"),
        (102, Some(102)) => ("heightAboveSeaLayer", "m"),
        (103, None) => ("heightAboveGround", "m"),
        (103, Some(103)) => ("heightAboveGroundLayer", "m"),
        (104, None) => ("sigma", "1"),
        (104, Some(104)) => ("sigmaLayer", "1"),
        (105, None) => ("hybrid", "1"),
        (105, Some(105)) => ("hybridLayer", "1"),
        (106, None) => ("depthBelowLand", "m"),
        (106, Some(106)) => ("depthBelowLandLayer", "m"),
        (107, None) => ("theta", "K"),
        (107, Some(107)) => ("thetaLayer", "K"),
        (108, None) => ("pressureFromGround", "Pa"),
        (108, Some(108)) => ("pressureFromGroundLayer", "Pa"),
        (109, None) => ("potentialVorticity", "1e-9 K m2 kg-1 s-1"),
        (111, None) => ("eta", "1"),
        (114, None) => ("snow", "1"),
        (114, Some(114)) => ("snowLayer", "1"),
        (117, None) => ("mixedLayerDepthGeneric", "m"),
        (118, None) => ("hybridHeight", "1"),
        (119, None) => ("hybridPressure", "1"),
        (151, None) => ("soil", "1"),
        (151, Some(151)) => ("soilLayer", "1"),
        (152, None) => ("seaIce", "1"),
        (152, Some(152)) => ("seaIceLayer", "1"),
        (160, None) => ("depthBelowSea", "m"),
        (160, Some(160)) => ("depthBelowSeaLayer", "m"),
        (160, Some(9)) => ("oceanSurfaceToBottom", "1"),
        (162, None) => ("lakeBottom", "1"),
        (166, None) => ("mixingLayer", "1"),
        (168, None) => ("oceanModel", "1"),
        (168, Some(168)) => ("oceanModelLayer", "1"),
        (169, None) => ("mixedLayerDepthByDensity", "m"),
        (170, None) => ("mixedLayerDepthByTemperature", "m"),
        (171, None) => ("mixedLayerDepthByDiffusivity", "m"),
        (177, None) => ("indefiniteSoilDepth", "1"),
        (k, _) if centre == 7 => match k {
            200 => ("atmosphereSingleLayer", "1"),
            201 => ("oceanSingleLayer", "1"),
            204 => ("highestTroposphericFreezing", "1"),
            206 => ("gridScaleCloudBottom", "1"),
            207 => ("gridScaleCloudTop", "1"),
            209 => ("boundaryLayerCloudBottom", "1"),
            210 => ("boundaryLayerCloudTop", "1"),
            211 => ("boundaryLayerCloudLayer", "1"),
            212 => ("lowCloudBottom", "1"),
            213 => ("lowCloudTop", "1"),
            214 => ("lowCloudLayer", "1"),
            215 => ("cloudCeiling", "1"),
            220 => ("planetaryBoundaryLayer", "1"),
            221 => ("layerBetween2Hybrids", "1"),
            222 => ("middleCloudBottom", "1"),
            223 => ("middleCloudTop", "1"),
            224 => ("middleCloudLayer", "1"),
            232 => ("highCloudBottom", "1"),
            233 => ("highCloudTop", "1"),
            234 => ("highCloudLayer", "1"),
            235 => ("oceanIsotherm", "1"),
            240 => ("oceanMixedLayer", "1"),
            241 => ("orderedSequenceData", "1"),
            242 => ("convectiveCloudBottom", "1"),
            243 => ("convectiveCloudTop", "1"),
            244 => ("convectiveCloudLayer", "1"),
            245 => ("lowestLevelWetBulb0", "1"),
            247 => ("equilibrium", "1"),
            248 => ("shallowConvectiveCloudBottom", "1"),
            249 => ("shallowConvectiveCloudTop", "1"),
            251 => ("deepConvectiveCloudBottom", "1"),
            252 => ("deepConvectiveCloudTop", "1"),
            _ => ("", "1"),
        },
        _ => ("", "1"),
    };
    let type_name = if !name.is_empty() {
        name.to_string()
    } else {
        match second_type {
            Some(s) => format!("level{}to{s}", first.kind),
            None => format!("level{}", first.kind),
        }
    };
    Level {
        type_name,
        first_type: first.kind,
        second_type,
        value,
        bottom,
        units,
    }
}

/// The CF attributes of a level coordinate named `name` (a `typeOfLevel`),
/// as cfgrib writes them, with `axis = "Z"` added so that every reader
/// (hiha's included) sees a vertical axis.
pub fn coord_attrs(level: &Level) -> Vec<Attr> {
    let text = |k: &str, v: &str| Attr::new(k, AttrValue::Text(v.to_string()));
    let name = level.type_name.as_str();
    let mut out = Vec::new();
    match name {
        "isobaricInhPa" | "isobaricInPa" => {
            out.push(text("long_name", "pressure"));
            out.push(text("units", level.units));
            out.push(text("positive", "down"));
            out.push(text("stored_direction", "decreasing"));
            out.push(text("standard_name", "air_pressure"));
        }
        "hybrid" => {
            out.push(text("long_name", "hybrid level"));
            out.push(text("units", "1"));
            out.push(text("positive", "down"));
            out.push(text(
                "standard_name",
                "atmosphere_hybrid_sigma_pressure_coordinate",
            ));
        }
        "heightAboveGround" => {
            out.push(text("long_name", "height above the surface"));
            out.push(text("units", level.units));
            out.push(text("positive", "up"));
            out.push(text("standard_name", "height"));
        }
        "heightAboveSea" => {
            out.push(text("long_name", "height above mean sea level"));
            out.push(text("units", level.units));
            out.push(text("positive", "up"));
            out.push(text("standard_name", "altitude"));
        }
        "depthBelowLand" | "depthBelowLandLayer" | "depthBelowSea" => {
            out.push(text("long_name", "depth below the surface"));
            out.push(text("units", level.units));
            out.push(text("positive", "down"));
            out.push(text("standard_name", "depth"));
        }
        _ => {
            out.push(text(
                "long_name",
                &format!("original GRIB coordinate for key: level({name})"),
            ));
            out.push(text("units", level.units));
        }
    }
    out.push(text("axis", "Z"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn surf(kind: u8, scale: u8, value: u32) -> Surface {
        Surface { kind, scale, value }
    }
    const NONE: Surface = Surface {
        kind: 255,
        scale: 0xff,
        value: u32::MAX,
    };

    #[test]
    fn isobaric_in_hpa_and_pa() {
        let l = grib2(surf(100, 0, 50000), NONE, 98);
        assert_eq!(
            (l.type_name.as_str(), l.value, l.units),
            ("isobaricInhPa", 500.0, "hPa")
        );
        let l = grib2(surf(100, 0, 50), NONE, 98);
        assert_eq!(
            (l.type_name.as_str(), l.value, l.units),
            ("isobaricInPa", 50.0, "Pa")
        );
    }

    #[test]
    fn scaled_layers_and_pv() {
        let l = grib2(surf(106, 2, 10), surf(106, 2, 40), 7);
        assert_eq!(l.type_name, "depthBelowLandLayer");
        assert_eq!((l.value, l.bottom), (0.1, Some(0.4)));
        // Like ecCodes: 33/10/10, not the correctly rounded 0.33.
        let l = grib2(surf(104, 2, 33), surf(104, 2, 100), 7);
        assert_eq!(l.value, 33.0 / 10.0 / 10.0);
        let l = grib2(surf(109, 9, 2000), NONE, 7);
        assert_eq!(l.value, 2000.0);
        let l = grib2(surf(109, 9, 0x8000_07d0), NONE, 7);
        assert_eq!(l.value, -2000.0);
        let l = grib2(surf(200, 0xff, u32::MAX), NONE, 7);
        assert_eq!(l.type_name, "atmosphereSingleLayer");
        let l = grib2(surf(200, 0xff, u32::MAX), NONE, 98);
        assert_eq!(l.type_name, "level200");
    }

    #[test]
    fn grib1_levels() {
        let l = grib1(100, [0x01, 0xf4]);
        assert_eq!((l.type_name.as_str(), l.value), ("isobaricInhPa", 500.0));
        let l = grib1(112, [0, 7]);
        assert_eq!((l.value, l.bottom), (0.0, Some(7.0)));
    }
}
