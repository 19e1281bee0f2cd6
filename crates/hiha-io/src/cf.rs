//! CF conventions: recognising latitude, longitude and level dims, missing
//! values, and `scale_factor`/`add_offset` packing.

use hiha_core::meta::{Attr, AttrValue, DType};

/// Finds an attribute by name.
pub fn attr<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a AttrValue> {
    attrs.iter().find(|a| a.name == name).map(|a| &a.value)
}

/// A text attribute, trimmed.
pub fn attr_text<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a str> {
    match attr(attrs, name) {
        Some(AttrValue::Text(s)) => Some(s.trim_matches(|c: char| c == '\0' || c.is_whitespace())),
        _ => None,
    }
}

/// All numeric elements of an attribute as f64 (empty for text).
pub fn attr_f64s(v: &AttrValue) -> Vec<f64> {
    match v {
        AttrValue::Text(_) => Vec::new(),
        AttrValue::I8(v) => v.iter().map(|&x| x as f64).collect(),
        AttrValue::U8(v) => v.iter().map(|&x| x as f64).collect(),
        AttrValue::I16(v) => v.iter().map(|&x| x as f64).collect(),
        AttrValue::U16(v) => v.iter().map(|&x| x as f64).collect(),
        AttrValue::I32(v) => v.iter().map(|&x| x as f64).collect(),
        AttrValue::U32(v) => v.iter().map(|&x| x as f64).collect(),
        AttrValue::I64(v) => v.iter().map(|&x| x as f64).collect(),
        AttrValue::U64(v) => v.iter().map(|&x| x as f64).collect(),
        AttrValue::F32(v) => v.iter().map(|&x| x as f64).collect(),
        AttrValue::F64(v) => v.clone(),
    }
}

fn lower(s: Option<&str>) -> String {
    s.unwrap_or("").to_ascii_lowercase()
}

/// What a dim is, judged from its name and its coordinate variable's
/// attributes (`units`, `standard_name`, `axis`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AxisKind {
    Lat,
    Lon,
    Level,
    Other,
}

/// Classifies a dim. `coord_attrs` are the attributes of the 1-D coordinate
/// variable of the same name, when there is one.
pub fn axis_kind(dim: &str, coord_attrs: Option<&[Attr]>) -> AxisKind {
    let name = dim.to_ascii_lowercase();
    let (units, std, axis, positive) = match coord_attrs {
        Some(a) => (
            lower(attr_text(a, "units")),
            lower(attr_text(a, "standard_name")),
            lower(attr_text(a, "axis")),
            attr(a, "positive").is_some(),
        ),
        None => (String::new(), String::new(), String::new(), false),
    };
    let lat_units = [
        "degrees_north",
        "degree_north",
        "degree_n",
        "degrees_n",
        "degreen",
        "degreesn",
    ];
    let lon_units = [
        "degrees_east",
        "degree_east",
        "degree_e",
        "degrees_e",
        "degreee",
        "degreese",
    ];
    if matches!(
        name.as_str(),
        "lat" | "latitude" | "lats" | "latitudes" | "nav_lat"
    ) || lat_units.contains(&units.as_str())
        || std == "latitude"
        || (axis == "y" && units.starts_with("degree"))
    {
        return AxisKind::Lat;
    }
    if matches!(
        name.as_str(),
        "lon" | "longitude" | "lons" | "longitudes" | "nav_lon"
    ) || lon_units.contains(&units.as_str())
        || std == "longitude"
        || (axis == "x" && units.starts_with("degree"))
    {
        return AxisKind::Lon;
    }
    let level_names = [
        "level",
        "levels",
        "plev",
        "isobaricinhpa",
        "isobaricinpa",
        "pressure",
        "lev",
        "levelist",
        "pressure_level",
        "pressure_levels",
        "height",
        "depth",
        "altitude",
        "model_level_number",
        "hybrid",
        "sigma",
    ];
    let level_units = [
        "hpa",
        "pa",
        "mbar",
        "millibar",
        "millibars",
        "mb",
        "kpa",
        "bar",
    ];
    if level_names.contains(&name.as_str())
        || level_units.contains(&units.as_str())
        || std == "air_pressure"
        || axis == "z"
        || positive
    {
        return AxisKind::Level;
    }
    AxisKind::Other
}

/// True when an attribute `_Unsigned = "true"` asks to read a signed
/// integer type as unsigned (NetCDF-3 convention).
pub fn is_unsigned(attrs: &[Attr], dtype: DType) -> bool {
    matches!(dtype, DType::I8 | DType::I16 | DType::I32)
        && attr_text(attrs, "_Unsigned").is_some_and(|s| s.eq_ignore_ascii_case("true"))
}

/// The CF packing of a variable: `unpacked = packed * scale + offset`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Packing {
    pub scale: f64,
    pub offset: f64,
}

/// The packing attributes, when the variable has `scale_factor` or
/// `add_offset`.
pub fn packing(attrs: &[Attr]) -> Option<Packing> {
    let scale = attr(attrs, "scale_factor").and_then(AttrValue::as_f64);
    let offset = attr(attrs, "add_offset").and_then(AttrValue::as_f64);
    if scale.is_none() && offset.is_none() {
        return None;
    }
    Some(Packing {
        scale: scale.unwrap_or(1.0),
        offset: offset.unwrap_or(0.0),
    })
}

/// The raw (packed, on-disk) values that mark a missing element:
/// `_FillValue` and every element of `missing_value`.
pub fn missing_markers(attrs: &[Attr]) -> Vec<f64> {
    let mut out = Vec::new();
    for name in ["_FillValue", "missing_value"] {
        if let Some(v) = attr(attrs, name) {
            out.extend(attr_f64s(v));
        }
    }
    out
}

/// The valid range in the file's own (packed) units, from `valid_range`
/// or `valid_min`/`valid_max`.
pub fn valid_bounds(attrs: &[Attr]) -> (Option<f64>, Option<f64>) {
    if let Some(r) = attr(attrs, "valid_range").map(attr_f64s) {
        if let [a, b] = r[..] {
            return (Some(a), Some(b));
        }
    }
    let one = |name: &str| attr(attrs, name).and_then(|v| attr_f64s(v).first().copied());
    (one("valid_min"), one("valid_max"))
}

/// Reinterprets a signed value as unsigned of the given width.
pub fn as_unsigned(x: f64, dtype: DType) -> f64 {
    if x >= 0.0 {
        return x;
    }
    match dtype {
        DType::I8 => x + 256.0,
        DType::I16 => x + 65536.0,
        DType::I32 => x + 4294967296.0,
        _ => x,
    }
}
