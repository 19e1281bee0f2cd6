//! Grouping GRIB fields into variables, as cfgrib does: one variable per
//! parameter, type of level, kind of step and grid, with the dims
//! `[number,] [time,] [step,] [level,] latitude, longitude` (a dim of one
//! value becomes a scalar coordinate), CF attributes, and the GRIB keys as
//! `GRIB_…` attributes. The result is a [`LoadedDataset`] that the NetCDF
//! writer writes back like any NetCDF source.

use std::collections::HashMap;

use hiha_core::field::{Field, Shape};
use hiha_core::meta::{
    Attr, AttrValue, AuxVar, CoordData, DType, DatasetMeta, Dim, VarLayout, VarMeta,
};

use super::decode::{decode, SLACK_VALUES, VALUES_PER_BYTE};
use super::error::{GribError, GribResult};
use super::latlon::{GridDef, LatLonGrid};
use super::level::{self, Level};
use super::message::{GribField, ParamKey, StepType};
use super::params::{self, ParamInfo};
use crate::grid::Grid;
use crate::netcdf::{LoadedDataset, LoadedVariable};

/// What makes fields one variable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct VarKey {
    edition: u8,
    centre: u16,
    param: ParamKey,
    step_kind: StepType,
    level_type: String,
    surfaces: (u8, Option<u8>),
    grid: GridKey,
    has_number: bool,
    identity: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum GridKey {
    LatLon(LatLonGrid),
    Other(String),
}

/// Attribute values that also identify a variable (an ensemble mean is
/// not the spread, one chemical constituent is not another, an analysis
/// is not a forecast).
const IDENTITY_ATTRS: [&str; 4] = [
    "GRIB_constituentType",
    "GRIB_derivedForecast",
    "GRIB_marsType",
    "GRIB_typeOfProcessedData",
];

fn attr_int(attrs: &[Attr], name: &str) -> Option<i64> {
    attrs
        .iter()
        .find(|a| a.name == name)
        .and_then(|a| match &a.value {
            AttrValue::I32(v) => v.first().map(|&x| i64::from(x)),
            _ => None,
        })
}

fn var_key(f: &GribField) -> VarKey {
    VarKey {
        edition: f.edition,
        centre: f.centre,
        param: f.param,
        step_kind: f.step.kind,
        level_type: f.level.type_name.clone(),
        surfaces: (f.level.first_type, f.level.second_type),
        grid: match &f.grid {
            GridDef::RegularLatLon(g) => GridKey::LatLon(g.clone()),
            GridDef::Other { grid_type, .. } => GridKey::Other(grid_type.clone()),
        },
        has_number: f.number.is_some(),
        identity: IDENTITY_ATTRS
            .iter()
            .map(|k| attr_int(&f.attrs, k).unwrap_or(-1))
            .collect(),
    }
}

/// The fields of one variable on a hypercube: axes and, for every cell in
/// row-major order (number, time, step, level), the field.
#[derive(Debug)]
struct Cube {
    numbers: Option<Vec<i64>>,
    times: Vec<i64>,
    steps: Vec<i64>,
    levels: Vec<Level>,
    cells: Vec<usize>,
}

fn sorted_unique(mut v: Vec<i64>) -> Vec<i64> {
    v.sort_unstable();
    v.dedup();
    v
}

/// Pressure levels run from the ground up (decreasing), as cfgrib stores them.
fn level_order(a: &Level, b: &Level, decreasing: bool) -> std::cmp::Ordering {
    let o = a
        .value
        .total_cmp(&b.value)
        .then(a.bottom.unwrap_or(0.0).total_cmp(&b.bottom.unwrap_or(0.0)));
    if decreasing {
        o.reverse()
    } else {
        o
    }
}

/// Arranges the fields `idx` of one variable on a hypercube; when levels
/// of a layer type share their first surface (so that a level coordinate
/// would repeat a value), one hypercube per level.
fn cubes(idx: &[usize], fields: &[GribField], name: &str) -> GribResult<Vec<Cube>> {
    let mut levels: Vec<Level> = Vec::new();
    for &i in idx {
        if !levels.iter().any(|l| l.key() == fields[i].level.key()) {
            levels.push(fields[i].level.clone());
        }
    }
    let mut values: Vec<u64> = levels.iter().map(|l| l.value.to_bits()).collect();
    values.sort_unstable();
    values.dedup();
    if values.len() == levels.len() {
        return Ok(vec![cube(idx, fields, name)?]);
    }
    levels.sort_by(|a, b| level_order(a, b, false));
    levels
        .iter()
        .map(|l| {
            let sub: Vec<usize> = idx
                .iter()
                .copied()
                .filter(|&i| fields[i].level.key() == l.key())
                .collect();
            cube(&sub, fields, name)
        })
        .collect()
}

fn cube(idx: &[usize], fields: &[GribField], name: &str) -> GribResult<Cube> {
    let first = &fields[idx[0]];
    let numbers = first
        .number
        .is_some()
        .then(|| sorted_unique(idx.iter().filter_map(|&i| fields[i].number).collect()));
    let times = sorted_unique(idx.iter().map(|&i| fields[i].ref_time).collect());
    let steps = sorted_unique(idx.iter().map(|&i| fields[i].step.end).collect());
    let mut levels: Vec<Level> = Vec::new();
    for &i in idx {
        if !levels.iter().any(|l| l.key() == fields[i].level.key()) {
            levels.push(fields[i].level.clone());
        }
    }
    let decreasing = matches!(
        first.level.type_name.as_str(),
        "isobaricInhPa" | "isobaricInPa"
    );
    levels.sort_by(|a, b| level_order(a, b, decreasing));
    let n_num = numbers.as_ref().map_or(1, Vec::len);
    let total = [n_num, times.len(), steps.len(), levels.len()]
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .ok_or_else(|| GribError::BadShape(format!("variable '{name}' is too large")))?;
    // Each field's cell; a cell taken twice is a duplicate.
    let pos = |v: &[i64], x: i64| v.binary_search(&x).unwrap_or(0);
    let mut cells: Vec<Option<usize>> = vec![None; total.min(idx.len().saturating_mul(1))];
    if total > idx.len() {
        // Missing combinations: name one.
        let mut seen = std::collections::HashSet::new();
        for &i in idx {
            let f = &fields[i];
            seen.insert((f.number, f.ref_time, f.step.end, f.level.key()));
        }
        for &n in numbers.as_deref().unwrap_or(&[0]) {
            for &t in &times {
                for &s in &steps {
                    for l in &levels {
                        let nn = numbers.as_ref().map(|_| n);
                        if !seen.contains(&(nn, t, s, l.key())) {
                            return Err(GribError::BadShape(format!(
                                "the {} fields of variable '{name}' do not fill a hypercube of \
                                 {} member(s) × {} time(s) × {} step(s) × {} level(s): no field \
                                 for{} time {t} s since 1970, step {} h, {} {}; select other \
                                 variables with --var, or split the file (e.g. `grib_copy`)",
                                idx.len(),
                                n_num,
                                times.len(),
                                steps.len(),
                                levels.len(),
                                nn.map_or(String::new(), |n| format!(" member {n},")),
                                s as f64 / 3600.0,
                                l.type_name,
                                l.value
                            )));
                        }
                    }
                }
            }
        }
    }
    for &i in idx {
        let f = &fields[i];
        let a = numbers
            .as_deref()
            .map_or(0, |v| pos(v, f.number.unwrap_or(0)));
        let b = pos(&times, f.ref_time);
        let c = pos(&steps, f.step.end);
        let d = levels
            .iter()
            .position(|l| l.key() == f.level.key())
            .unwrap_or(0);
        let cell = ((a * times.len() + b) * steps.len() + c) * levels.len() + d;
        let Some(slot) = cells.get_mut(cell) else {
            return Err(GribError::BadShape(format!(
                "variable '{name}': field {} falls outside its hypercube",
                f.index + 1
            )));
        };
        if let Some(other) = slot {
            return Err(GribError::BadShape(format!(
                "variable '{name}' has two fields for the same member, time, step and level: {} \
                 and {} (a file concatenated twice?)",
                fields[*other].describe(),
                f.describe()
            )));
        }
        *slot = Some(i);
    }
    let cells = cells.into_iter().flatten().collect::<Vec<_>>();
    Ok(Cube {
        numbers,
        times,
        steps,
        levels,
        cells,
    })
}

/// One variable to build: its name, its fields, and why it cannot be read
/// (another grid, not a hypercube), if it cannot.
struct Planned {
    name: String,
    cube: Result<Cube, GribError>,
    info: Option<&'static ParamInfo>,
    first: usize,
}

/// Names the groups: cfgrib's name (ecCodes' `cfVarName`), or one made of
/// the parameter's numbers; a name already taken gets `_<typeOfLevel>`,
/// then a number. Pressure-level variables are named first, so that `t`
/// is temperature on pressure levels when a file also has `t` at 2 m.
fn plan(fields: &[GribField]) -> Vec<Planned> {
    let mut order: Vec<VarKey> = Vec::new();
    let mut groups: HashMap<VarKey, Vec<usize>> = HashMap::new();
    for (i, f) in fields.iter().enumerate() {
        let k = var_key(f);
        groups
            .entry(k.clone())
            .or_insert_with(|| {
                order.push(k);
                Vec::new()
            })
            .push(i);
    }
    let mut by_priority: Vec<usize> = (0..order.len()).collect();
    by_priority.sort_by_key(|&g| {
        let pressure = matches!(
            order[g].level_type.as_str(),
            "isobaricInhPa" | "isobaricInPa"
        );
        (!pressure, g)
    });
    let mut taken: Vec<String> = Vec::new();
    let mut named: Vec<Vec<Planned>> = (0..order.len()).map(|_| Vec::new()).collect();
    for g in by_priority {
        let idx = &groups[&order[g]];
        let f = &fields[idx[0]];
        let info = params::lookup(f);
        let base = info.map_or_else(|| params::fallback_name(f.param), |p| p.cf_var_name.clone());
        let base = sanitize(&base);
        let mut name = base.clone();
        if taken.contains(&name) {
            name = format!("{base}_{}", f.level.type_name);
        }
        let mut k = 2;
        let stem = name.clone();
        while taken.contains(&name) {
            name = format!("{stem}_{k}");
            k += 1;
        }
        taken.push(name.clone());
        let result = match &f.grid {
            GridDef::Other { grid_type, detail } => Err(GribError::NotRegularGrid(format!(
                "variable '{name}' ({}) is on a {grid_type} grid ({detail}); hiha reads regular \
                 latitude/longitude grids only (regrid first, e.g. with `cdo remapbil`)",
                f.describe()
            ))),
            GridDef::RegularLatLon(_) => cubes(idx, fields, &name),
        };
        match result {
            Ok(cs) if cs.len() > 1 => {
                for (j, c) in cs.into_iter().enumerate() {
                    let mut sub = format!("{name}_{}", j + 1);
                    while taken.contains(&sub) {
                        sub.push('_');
                    }
                    taken.push(sub.clone());
                    let first = c.cells.first().copied().unwrap_or(idx[0]);
                    named[g].push(Planned {
                        name: sub,
                        cube: Ok(c),
                        info,
                        first,
                    });
                }
            }
            Ok(mut cs) => named[g].push(Planned {
                name,
                cube: cs
                    .pop()
                    .ok_or_else(|| GribError::BadShape("empty variable".into())),
                info,
                first: idx[0],
            }),
            Err(e) => named[g].push(Planned {
                name,
                cube: Err(e),
                info,
                first: idx[0],
            }),
        }
    }
    named.into_iter().flatten().collect()
}

/// A NetCDF-safe name: letters, digits and `_` (a leading digit gets a `v`).
fn sanitize(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'v');
    }
    out
}

/// The coordinates and dims of the dataset, shared by its variables: a
/// coordinate asked for twice with the same values is shared, one with the
/// same name but other values gets `_2`, `_3`, ….
#[derive(Default)]
struct Coords {
    dims: Vec<Dim>,
    aux: Vec<AuxVar>,
}

impl Coords {
    /// Adds (or finds) a coordinate variable `base` over `dims` (each a
    /// (name, len) that is created with it when `own_dim`), returning its name.
    fn add(
        &mut self,
        base: &str,
        dim: bool,
        data: CoordData,
        dtype: DType,
        attrs: Vec<Attr>,
    ) -> String {
        let len = coord_len(&data);
        let mut k = 1;
        loop {
            let name = if k == 1 {
                base.to_string()
            } else {
                format!("{base}_{k}")
            };
            match self.aux.iter().find(|a| a.name == name) {
                Some(a) => {
                    let same_dims = if dim {
                        a.dims == [name.clone()]
                    } else {
                        a.dims.is_empty()
                    };
                    if same_dims && a.data == data && a.attrs == attrs {
                        return name;
                    }
                }
                None if !self.dims.iter().any(|d| d.name == name) => {
                    if dim {
                        self.dims.push(Dim {
                            name: name.clone(),
                            len,
                            unlimited: false,
                        });
                    }
                    self.aux.push(AuxVar {
                        name: name.clone(),
                        dims: if dim { vec![name.clone()] } else { Vec::new() },
                        dtype,
                        attrs,
                        data,
                    });
                    return name;
                }
                None => {}
            }
            k += 1;
        }
    }

    /// Adds (or finds) an auxiliary variable over existing dims.
    fn add_over(
        &mut self,
        base: &str,
        dims: Vec<String>,
        data: CoordData,
        attrs: Vec<Attr>,
    ) -> String {
        let mut k = 1;
        loop {
            let name = if k == 1 {
                base.to_string()
            } else {
                format!("{base}_{k}")
            };
            match self.aux.iter().find(|a| a.name == name) {
                Some(a) if a.dims == dims && a.data == data && a.attrs == attrs => return name,
                Some(_) => {}
                None if !self.dims.iter().any(|d| d.name == name) => {
                    self.aux.push(AuxVar {
                        name: name.clone(),
                        dims,
                        dtype: DType::F64,
                        attrs,
                        data,
                    });
                    return name;
                }
                None => {}
            }
            k += 1;
        }
    }
}

fn coord_len(d: &CoordData) -> usize {
    match d {
        CoordData::F64(v) => v.len(),
        CoordData::F32(v) => v.len(),
        CoordData::I64(v) => v.len(),
        CoordData::I32(v) => v.len(),
        CoordData::I16(v) => v.len(),
        CoordData::I8(v) => v.len(),
        CoordData::U8(v) => v.len(),
        CoordData::Text(v) => v.len(),
    }
}

fn text(k: &str, v: impl Into<String>) -> Attr {
    Attr::new(k, AttrValue::Text(v.into()))
}
fn int(k: &str, v: i64) -> Attr {
    Attr::new(
        k,
        AttrValue::I32(vec![
            v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
        ]),
    )
}
fn float(k: &str, v: f64) -> Attr {
    Attr::new(k, AttrValue::F64(vec![v]))
}

/// ecCodes' abbreviation and description of a centre (common ones).
fn centre_names(c: u16) -> (String, &'static str) {
    let (abbr, desc) = match c {
        7 => ("kwbc", "US National Weather Service - NCEP"),
        8 => ("kwbn", "US National Weather Service - NWSTG"),
        34 => ("rjtd", "Japanese Meteorological Agency - Tokyo"),
        54 => ("cwao", "Canadian Meteorological Service - Montreal"),
        58 => ("fnmo", "US Navy - Fleet Numerical Oceanography Center"),
        74 => ("egrr", "U.K. Met Office - Exeter"),
        78 => ("edzw", "Offenbach (RSMC)"),
        80 => ("cnmc", "Rome (RSMC)"),
        84 => ("lfpw", "French Weather Service - Toulouse"),
        85 => ("lfpw", "French Weather Service - Toulouse"),
        98 => ("ecmf", "European Centre for Medium-Range Weather Forecasts"),
        _ => ("", ""),
    };
    if abbr.is_empty() {
        (format!("centre {c}"), "")
    } else {
        (abbr.to_string(), desc)
    }
}

/// Builds the dataset of the fields of `bytes` that `vars` selects (every
/// variable when `None`).
pub fn build(
    bytes: &[u8],
    fields: &[GribField],
    vars: Option<&[&str]>,
) -> Result<LoadedDataset, BuildError> {
    let planned = plan(fields);
    let candidates: Vec<String> = planned.iter().map(|p| p.name.clone()).collect();
    let mut notes = Vec::new();
    let selected: Vec<&Planned> = match vars {
        None => planned.iter().collect(),
        Some(list) => {
            let mut out: Vec<&Planned> = Vec::new();
            for v in list {
                match planned.iter().find(|p| p.name == *v) {
                    Some(p) if !out.iter().any(|q| q.name == p.name) => out.push(p),
                    Some(_) => {}
                    None => {
                        return Err(BuildError::NotFound {
                            var: v.to_string(),
                            candidates,
                        })
                    }
                }
            }
            let left: Vec<&str> = planned
                .iter()
                .filter(|p| !list.contains(&p.name.as_str()))
                .map(|p| p.name.as_str())
                .collect();
            if !left.is_empty() {
                notes.push(format!(
                    "GRIB variable(s) {} not selected: left out",
                    left.join(", ")
                ));
            }
            out
        }
    };
    // Every selected variable must be readable.
    let readable: Vec<&str> = planned
        .iter()
        .filter(|p| p.cube.is_ok())
        .map(|p| p.name.as_str())
        .collect();
    for p in &selected {
        if let Err(e) = &p.cube {
            let hint = if vars.is_none() && !readable.is_empty() {
                format!(
                    "; the readable variables can be selected with --var {}",
                    readable.join(",")
                )
            } else {
                String::new()
            };
            return Err(BuildError::Grib(match e {
                GribError::NotRegularGrid(m) => GribError::NotRegularGrid(format!("{m}{hint}")),
                GribError::BadShape(m) => GribError::BadShape(format!("{m}{hint}")),
                other => other.clone(),
            }));
        }
    }
    // Refuse implausible sizes before allocating.
    let total: usize = selected
        .iter()
        .filter_map(|p| p.cube.as_ref().ok())
        .map(|c| {
            c.cells
                .iter()
                .map(|&i| fields[i].num_points)
                .fold(0usize, usize::saturating_add)
        })
        .fold(0usize, usize::saturating_add);
    let limit = bytes
        .len()
        .saturating_mul(VALUES_PER_BYTE)
        .saturating_add(SLACK_VALUES);
    if total > limit {
        return Err(BuildError::Grib(GribError::Corrupt(format!(
            "the selected fields would decode to {total} values from {} bytes (more than {} \
             values per byte plus {}): refused as implausible (a damaged file?)",
            bytes.len(),
            VALUES_PER_BYTE,
            SLACK_VALUES
        ))));
    }

    let mut coords = Coords::default();
    let mut built = Vec::new();
    for p in &selected {
        let Ok(cube) = &p.cube else { continue };
        built.push(build_var(bytes, fields, p, cube, &mut coords).map_err(BuildError::Grib)?);
    }
    let first = &fields[selected.first().map_or(0, |p| p.first)];
    let (abbr, desc) = centre_names(first.centre);
    let mut global = vec![
        int("GRIB_edition", i64::from(first.edition)),
        text("GRIB_centre", abbr.clone()),
    ];
    if !desc.is_empty() {
        global.push(text("GRIB_centreDescription", desc));
    }
    global.push(int("GRIB_subCentre", i64::from(first.sub_centre)));
    global.push(text("Conventions", "CF-1.7"));
    if !desc.is_empty() {
        global.push(text("institution", desc));
    }
    global.push(text(
        "source",
        "GRIB decoded by hiha-io (values identical to ecCodes')",
    ));
    let variables = built
        .into_iter()
        .map(|(field, var, grid)| LoadedVariable {
            field,
            meta: DatasetMeta {
                dims: coords.dims.clone(),
                global_attrs: global.clone(),
                aux_vars: coords.aux.clone(),
                var,
            },
            grid,
            notes: Vec::new(),
        })
        .collect();
    Ok(LoadedDataset { variables, notes })
}

/// Why [`build`] failed.
#[derive(Debug)]
pub enum BuildError {
    Grib(GribError),
    NotFound {
        var: String,
        candidates: Vec<String>,
    },
}

fn build_var(
    bytes: &[u8],
    fields: &[GribField],
    p: &Planned,
    cube: &Cube,
    coords: &mut Coords,
) -> GribResult<(Field, VarMeta, Grid)> {
    let f0 = &fields[cube.cells[0]];
    let GridDef::RegularLatLon(g) = &f0.grid else {
        return Err(GribError::NotRegularGrid(format!(
            "variable '{}' is not on a regular lat/lon grid",
            p.name
        )));
    };
    let mut dims: Vec<String> = Vec::new();
    let mut scalars: Vec<String> = Vec::new();
    let mut frame_dims = 0;

    // number
    if let Some(numbers) = &cube.numbers {
        let attrs = vec![
            text("long_name", "ensemble member numerical id"),
            text("units", "1"),
            text("standard_name", "realization"),
        ];
        let data = CoordData::I32(
            numbers
                .iter()
                .map(|&n| n.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
                .collect(),
        );
        let many = numbers.len() > 1;
        let name = coords.add("number", many, data, DType::I32, attrs);
        if many {
            dims.push(name);
            frame_dims += 1;
        } else {
            scalars.push(name);
        }
    }
    // time
    let time_attrs = vec![
        text("long_name", "initial time of forecast"),
        text("standard_name", "forecast_reference_time"),
        text("units", "seconds since 1970-01-01T00:00:00"),
        text("calendar", "proleptic_gregorian"),
    ];
    let many_t = cube.times.len() > 1;
    let time = coords.add(
        "time",
        many_t,
        CoordData::F64(cube.times.iter().map(|&t| t as f64).collect()),
        DType::F64,
        time_attrs,
    );
    // step
    let step_attrs = vec![
        text("long_name", "time since forecast_reference_time"),
        text("standard_name", "forecast_period"),
        text("units", "hours"),
    ];
    let many_s = cube.steps.len() > 1;
    let step = coords.add(
        "step",
        many_s,
        CoordData::F64(cube.steps.iter().map(|&s| s as f64 / 3600.0).collect()),
        DType::F64,
        step_attrs,
    );
    for (name, many) in [(&time, many_t), (&step, many_s)] {
        if many {
            dims.push(name.clone());
            frame_dims += 1;
        } else {
            scalars.push(name.clone());
        }
    }
    // level
    let lev0 = &cube.levels[0];
    let many_l = cube.levels.len() > 1;
    let level_name = coords.add(
        &sanitize(&lev0.type_name),
        many_l,
        CoordData::F64(cube.levels.iter().map(|l| l.value).collect()),
        DType::F64,
        level::coord_attrs(lev0),
    );
    let level_dim = if many_l {
        dims.push(level_name.clone());
        Some(level_name.clone())
    } else {
        scalars.push(level_name.clone());
        None
    };
    // valid_time over (time, step) as present
    let mut vt_dims = Vec::new();
    if many_t {
        vt_dims.push(time.clone());
    }
    if many_s {
        vt_dims.push(step.clone());
    }
    let mut valid = Vec::with_capacity(cube.times.len() * cube.steps.len());
    for &t in &cube.times {
        for &s in &cube.steps {
            valid.push(t.saturating_add(s) as f64);
        }
    }
    let valid_name = coords.add_over(
        "valid_time",
        vt_dims,
        CoordData::F64(valid),
        vec![
            text("standard_name", "time"),
            text("long_name", "time"),
            text("units", "seconds since 1970-01-01T00:00:00"),
            text("calendar", "proleptic_gregorian"),
        ],
    );
    scalars.push(valid_name);
    // latitude, longitude
    let lats = g.lats();
    let lons = g.lons();
    let lat_dir = if lats.len() > 1 && lats[0] > lats[lats.len() - 1] {
        "decreasing"
    } else {
        "increasing"
    };
    let lat = coords.add(
        "latitude",
        true,
        CoordData::F64(lats.clone()),
        DType::F64,
        vec![
            text("units", "degrees_north"),
            text("standard_name", "latitude"),
            text("long_name", "latitude"),
            text("stored_direction", lat_dir),
        ],
    );
    let lon = coords.add(
        "longitude",
        true,
        CoordData::F64(lons.clone()),
        DType::F64,
        vec![
            text("units", "degrees_east"),
            text("standard_name", "longitude"),
            text("long_name", "longitude"),
        ],
    );
    dims.push(lat.clone());
    dims.push(lon.clone());
    let levels_coord = many_l.then(|| cube.levels.iter().map(|l| l.value).collect());
    let grid = Grid::from_coords(&lat, lats, &lon, lons, levels_coord)
        .map_err(|e| GribError::NotRegularGrid(format!("variable '{}': {e}", p.name)))?;

    // Values.
    let n_levels = cube.levels.len();
    let frames = cube.cells.len() / n_levels;
    let shape = Shape::new(frames, n_levels, g.nj, g.ni);
    let n = shape
        .checked_len()
        .map_err(|e| GribError::BadShape(e.to_string()))?;
    let plane = g.ni * g.nj;
    let mut values = vec![0f32; n];
    let mut missing = vec![false; n];
    let mut any_missing = false;
    for (k, &i) in cube.cells.iter().enumerate() {
        let f = &fields[i];
        let GridDef::RegularLatLon(fg) = &f.grid else {
            return Err(GribError::NotRegularGrid(format!(
                "{} is not on a regular lat/lon grid",
                f.describe()
            )));
        };
        let d = decode(bytes, f).map_err(|e| match e {
            GribError::Corrupt(m) => GribError::Corrupt(format!("{}: {m}", f.describe())),
            GribError::Unsupported(m) => GribError::Unsupported(format!("{}: {m}", f.describe())),
            other => other,
        })?;
        let base = k * plane;
        for r in 0..fg.nj {
            for c in 0..fg.ni {
                let src = fg.index(r, c);
                let dst = base + r * fg.ni + c;
                let m = d.missing.as_ref().is_some_and(|m| m[src]);
                if m {
                    missing[dst] = true;
                    any_missing = true;
                } else {
                    values[dst] = d.values[src] as f32;
                }
            }
        }
    }
    let field = Field::new(shape, values, any_missing.then_some(missing))
        .map_err(|e| GribError::BadShape(e.to_string()))?;

    // Attributes.
    let info = p.info;
    let mut attrs: Vec<Attr> = Vec::new();
    if any_missing {
        attrs.push(Attr::new("_FillValue", AttrValue::F32(vec![f32::NAN])));
    }
    attrs.push(int("GRIB_edition", i64::from(f0.edition)));
    attrs.push(int("GRIB_centre", i64::from(f0.centre)));
    if let Some(i) = info {
        attrs.push(int("GRIB_paramId", i64::from(i.param_id)));
        attrs.push(text("GRIB_shortName", i.short_name.clone()));
        attrs.push(text("GRIB_cfVarName", i.cf_var_name.clone()));
        attrs.push(text("GRIB_name", i.name.clone()));
        attrs.push(text("GRIB_units", i.units.clone()));
        if let Some(c) = &i.cf_name {
            attrs.push(text("GRIB_cfName", c.clone()));
        }
    }
    attrs.push(text("GRIB_typeOfLevel", f0.level.type_name.clone()));
    attrs.push(text("GRIB_stepType", f0.step.kind.name()));
    attrs.push(text("GRIB_gridType", f0.grid.grid_type().to_string()));
    attrs.push(text("GRIB_packingType", f0.packing.name()));
    attrs.push(int("GRIB_Nx", g.ni as i64));
    attrs.push(int("GRIB_Ny", g.nj as i64));
    attrs.push(int("GRIB_numberOfPoints", plane as i64));
    attrs.push(float(
        "GRIB_latitudeOfFirstGridPointInDegrees",
        g.lats().first().copied().unwrap_or(0.0),
    ));
    attrs.push(float(
        "GRIB_longitudeOfFirstGridPointInDegrees",
        g.lons().first().copied().unwrap_or(0.0),
    ));
    if let Some(b) = f0.level.bottom {
        if !many_l {
            attrs.push(float("GRIB_bottomLevel", b));
        }
    }
    if f0.step.start != f0.step.end && cube.steps.len() == 1 {
        attrs.push(float("GRIB_startStep", f0.step.start as f64 / 3600.0));
    }
    for a in &f0.attrs {
        if !attrs.iter().any(|b| b.name == a.name) {
            attrs.push(a.clone());
        }
    }
    match info {
        Some(i) => {
            attrs.push(text("long_name", i.name.clone()));
            attrs.push(text("units", i.units.clone()));
            if let Some(c) = &i.cf_name {
                attrs.push(text("standard_name", c.clone()));
            }
        }
        None => attrs.push(text(
            "long_name",
            format!("GRIB parameter {}", params::fallback_name(f0.param)),
        )),
    }
    if many_l {
        if let Some(b) = cube
            .levels
            .iter()
            .map(|l| l.bottom)
            .collect::<Option<Vec<f64>>>()
        {
            attrs.push(Attr::new("GRIB_bottomLevels", AttrValue::F64(b)));
        }
    }
    attrs.push(text("coordinates", scalars.join(" ")));
    let layout = VarLayout {
        dims,
        frame_dims,
        level_dim,
        lat_dim: lat,
        lon_dim: lon,
    };
    let meta = VarMeta {
        name: p.name.clone(),
        layout,
        dtype: DType::F32,
        attrs,
    };
    Ok((field, meta, grid))
}

/// The names [`build`] gives the variables of these fields, in file order.
pub fn names(fields: &[GribField]) -> Vec<String> {
    plan(fields).into_iter().map(|p| p.name).collect()
}
