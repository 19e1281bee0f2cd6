//! Parameter names: ecCodes' `paramId`, `shortName`, `cfVarName`, `name`,
//! `units` and `cfName` for a field, looked up in `params.tsv` (written by
//! `scripts/grib_param_table.py` from ecCodes' own answers). A parameter the
//! table does not hold keeps its numbers, and hiha names it after them.

use std::sync::OnceLock;

use super::message::{GribField, ParamKey, StepType};

/// What ecCodes calls a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamInfo {
    pub param_id: u32,
    pub short_name: String,
    /// The variable name cfgrib gives it.
    pub cf_var_name: String,
    pub name: String,
    pub units: String,
    /// CF standard name, when there is one.
    pub cf_name: Option<String>,
}

/// One row of the table: a pattern and its names.
struct Row {
    edition: u8,
    centre: Option<u16>,
    numbers: [u8; 3],
    /// None: any; Some(None): instantaneous; Some(Some(k)): statistical processing k.
    stat: Option<Option<u8>>,
    surface: Option<u8>,
    value: Option<f64>,
    info: ParamInfo,
}

const TABLE: &str = include_str!("params.tsv");

fn rows() -> &'static [Row] {
    static ROWS: OnceLock<Vec<Row>> = OnceLock::new();
    ROWS.get_or_init(|| TABLE.lines().filter_map(parse_row).collect())
}

fn parse_row(line: &str) -> Option<Row> {
    if line.starts_with('#') {
        return None;
    }
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() != 14 {
        return None;
    }
    let any = |s: &str| s == "*";
    let edition: u8 = f[0].parse().ok()?;
    let centre = if any(f[1]) {
        None
    } else {
        Some(f[1].parse().ok()?)
    };
    let numbers = [
        f[2].parse().ok()?,
        f[3].parse().ok()?,
        if f[4].is_empty() {
            0
        } else {
            f[4].parse().ok()?
        },
    ];
    let stat = match f[5] {
        "*" => None,
        "i" => Some(None),
        s => Some(Some(s.parse().ok()?)),
    };
    let surface = if any(f[6]) {
        None
    } else {
        Some(f[6].parse().ok()?)
    };
    let value = if any(f[7]) {
        None
    } else {
        Some(f[7].parse().ok()?)
    };
    Some(Row {
        edition,
        centre,
        numbers,
        stat,
        surface,
        value,
        info: ParamInfo {
            param_id: f[8].parse().ok()?,
            short_name: f[9].to_string(),
            cf_var_name: f[10].to_string(),
            name: f[11].to_string(),
            units: f[12].to_string(),
            cf_name: (f[13] != "unknown" && !f[13].is_empty()).then(|| f[13].to_string()),
        },
    })
}

/// The statistical processing of a field: None when instantaneous.
fn stat_code(kind: StepType) -> Option<u8> {
    match kind {
        StepType::Instant => None,
        StepType::Avg => Some(0),
        StepType::Accum => Some(1),
        StepType::Max => Some(2),
        StepType::Min => Some(3),
        StepType::Diff => Some(4),
        StepType::Rms => Some(5),
        StepType::Sd => Some(6),
        StepType::Cov => Some(7),
        StepType::Ratio => Some(9),
        StepType::Other(k) => Some(k),
    }
}

/// The names of a field's parameter, when the table knows it: the matching
/// row with the most constraints (centre, statistics, surface).
pub fn lookup(f: &GribField) -> Option<&'static ParamInfo> {
    let (edition, numbers) = match f.param {
        ParamKey::Grib1 { table, number } => (1u8, [table, number, 0]),
        ParamKey::Grib2 {
            discipline,
            category,
            number,
        } => (2u8, [discipline, category, number]),
    };
    let stat = stat_code(f.step.kind);
    // The table's GRIB1 rows are per centre (ECMWF 128/228, NCEP 2/3).
    let centre_ok = |c: Option<u16>| match c {
        None => true,
        Some(c) => c == f.centre,
    };
    let mut best: Option<(usize, &Row)> = None;
    for r in rows() {
        if r.edition != edition || r.numbers != numbers || !centre_ok(r.centre) {
            continue;
        }
        if let Some(s) = r.stat {
            if s != stat {
                continue;
            }
        }
        if let Some(t) = r.surface {
            if t != f.level.first_type || f.level.second_type.is_some_and(|s| s != t) {
                continue;
            }
        }
        if let Some(v) = r.value {
            if v != f.level.value {
                continue;
            }
        }
        let score = usize::from(r.centre.is_some())
            + usize::from(r.stat.is_some())
            + usize::from(r.surface.is_some())
            + usize::from(r.value.is_some());
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, r));
        }
    }
    // A row may pin "unknown" (paramId 0) where a more general row would
    // name what ecCodes does not.
    best.map(|(_, r)| &r.info).filter(|i| i.param_id != 0)
}

/// The name of a parameter the table does not hold, from its numbers
/// (`param<discipline>.<category>.<number>` or `param<table>.<number>`
/// with dots as underscores, a valid NetCDF name).
pub fn fallback_name(key: ParamKey) -> String {
    match key {
        ParamKey::Grib1 { table, number } => format!("var{table}_{number}"),
        ParamKey::Grib2 {
            discipline,
            category,
            number,
        } => format!("param{discipline}_{category}_{number}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses() {
        let n = TABLE.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(rows().len(), n, "every row of params.tsv parses");
        assert!(rows()
            .iter()
            .any(|r| r.info.short_name == "t" && r.info.param_id == 130));
    }
}
