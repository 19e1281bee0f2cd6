//! GRIB input (issue 10): every field of every GRIB sample decodes to
//! exactly ecCodes' values, and the dataset hiha builds from the fields
//! (variables × members × times × steps × levels × lat × lon) holds each
//! field once, in the right place.
//!
//! ecCodes is the Python `eccodes` wheel (it bundles the library),
//! installed into the repository's `.venv` by `scripts/setup_python.sh`
//! (part of the README's test command), or `HIHA_PYTHON`; without it the
//! test fails, it never skips. `tests/py/eccodes_dump.py` writes ecCodes'
//! keys and `codes_get_values` (f64) of every field.
//!
//! How values are compared: ecCodes decodes GRIB to `double`, and hiha's
//! decoder ([`hiha_io::grib::decode`]) computes the same `f64`, so every
//! value is compared bit for bit as `f64` (`to_bits` equality), missing
//! points as "missing on both sides". The dataset stores `f32`; its values
//! are compared bit for bit with ecCodes' `f64` rounded to `f32`, which is
//! the only rounding the dataset adds.
//!
//! The bundled samples (`data/samples/*.grib*`) are always tested; the
//! shared data's `native/` GRIB files too when they are present.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use hiha_core::meta::{AttrValue, CoordData, DatasetMeta};
use hiha_io::grib;

fn python() -> PathBuf {
    let candidates = [
        std::env::var_os("HIHA_PYTHON").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| {
            Command::new(p)
                .args(["-c", "import eccodes, numpy"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("no Python with eccodes: run scripts/setup_python.sh (or set HIHA_PYTHON)")
}

/// The GRIB files to test: the bundled samples, and the shared data's when present.
pub fn grib_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = Vec::new();
    let mut add = |dir: &Path| {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
                if matches!(ext, "grib" | "grb" | "grib1" | "grib2" | "grb2") {
                    v.push(p);
                }
            }
        }
    };
    add(&common::samples_dir());
    if let Some(d) = common::shared_dir() {
        add(&d.join("native"));
    }
    v.sort();
    v
}

/// ecCodes' view of one field.
#[derive(Debug)]
struct EcField {
    keys: HashMap<String, String>,
    values: Vec<f64>,
}

impl EcField {
    fn key(&self, k: &str) -> &str {
        self.keys.get(k).map(String::as_str).unwrap_or("-")
    }
    fn long(&self, k: &str) -> Option<i64> {
        self.key(k).parse().ok()
    }
}

fn ecc_dump(path: &Path) -> Vec<EcField> {
    let out = common::tmp_dir(&format!(
        "ecc-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("x")
    ));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/eccodes_dump.py");
    let o = Command::new(python())
        .arg(script)
        .arg(path)
        .arg(&out)
        .output()
        .expect("runs python");
    assert!(
        o.status.success(),
        "eccodes_dump.py failed on {}:\n{}",
        path.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let tsv = std::fs::read_to_string(out.join("fields.tsv")).expect("fields.tsv");
    let raw = std::fs::read(out.join("values.f64")).expect("values.f64");
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let mut fields = Vec::new();
    let mut at = 0usize;
    for line in lines {
        let keys: HashMap<String, String> = header
            .iter()
            .zip(line.split('\t'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let n: usize = keys["numberOfPoints"].parse().expect("numberOfPoints");
        let values = raw[at..at + 8 * n]
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        at += 8 * n;
        fields.push(EcField { keys, values });
    }
    assert_eq!(at, raw.len(), "values.f64 has the announced size");
    fields
}

/// ecCodes' `level`, with its unsigned reading of a negative scaled value
/// turned back into sign and magnitude (hiha reads −2 PVU as −2000).
fn ecc_level(f: &EcField) -> f64 {
    let v: f64 = f.key("level").parse().expect("level");
    if v >= 2_147_483_648.0 {
        -(v - 2_147_483_648.0)
    } else {
        v
    }
}

fn epoch(date: i64, time: i64) -> i64 {
    let (y, m, d) = (date / 10000, (date / 100) % 100, date % 100);
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + (time / 100) * 3600 + (time % 100) * 60
}

#[test]
fn every_field_decodes_to_eccodes_values_bit_for_bit() {
    let files = grib_files();
    assert!(!files.is_empty(), "no GRIB sample found");
    let mut total_fields = 0;
    for path in &files {
        let ecc = ecc_dump(path);
        let bytes = std::fs::read(path).expect("read");
        let fields = grib::scan(&bytes).expect("scans");
        assert_eq!(
            fields.len(),
            ecc.len(),
            "{}: hiha finds {} fields, ecCodes {}",
            path.display(),
            fields.len(),
            ecc.len()
        );
        let mut named = 0;
        let mut misnamed: Vec<String> = Vec::new();
        let mut values = 0usize;
        let mut missing = 0usize;
        for (f, e) in fields.iter().zip(&ecc) {
            let what = format!("{} field {}", path.display(), f.index + 1);
            assert_eq!(Some(f.offset as i64), e.long("offset"), "{what}: offset");
            assert_eq!(
                Some(i64::from(f.edition)),
                e.long("edition"),
                "{what}: edition"
            );
            assert_eq!(
                f.level.type_name,
                e.key("typeOfLevel"),
                "{what}: typeOfLevel"
            );
            assert_eq!(f.level.value, ecc_level(e), "{what}: level");
            assert_eq!(f.number, e.long("number"), "{what}: number");
            let ref_time = epoch(
                e.long("dataDate").expect("dataDate"),
                e.long("dataTime").expect("dataTime"),
            );
            assert_eq!(f.ref_time, ref_time, "{what}: reference time");
            assert_eq!(
                f.step.end.to_string(),
                (e.key("endStep").parse::<i64>().expect("endStep in hours") * 3600).to_string(),
                "{what}: endStep"
            );
            assert_eq!(f.step.kind.name(), e.key("stepType"), "{what}: stepType");
            assert_eq!(
                f.packing.name(),
                e.key("packingType"),
                "{what}: packingType"
            );
            assert_eq!(f.grid.grid_type(), e.key("gridType"), "{what}: gridType");
            match grib::param_info(f) {
                Some(info)
                    if info.short_name == e.key("shortName")
                        && info.param_id.to_string() == e.key("paramId")
                        && info.cf_var_name == e.key("cfVarName")
                        && info.units == e.key("units") =>
                {
                    named += 1
                }
                None if e.key("shortName") == "unknown" => named += 1,
                other => misnamed.push(format!(
                    "{what}: hiha {:?}, ecCodes {} ({}, {})",
                    other.map(|i| &i.short_name),
                    e.key("shortName"),
                    e.key("typeOfLevel"),
                    e.key("stepType")
                )),
            }
            let d = grib::decode(&bytes, f).unwrap_or_else(|err| panic!("{what}: {err}"));
            assert_eq!(d.values.len(), e.values.len(), "{what}: number of values");
            for (i, (&a, &b)) in d.values.iter().zip(&e.values).enumerate() {
                let m = d.missing.as_ref().is_some_and(|m| m[i]);
                if b.is_nan() {
                    assert!(m, "{what}: point {i} is missing in ecCodes, {a} in hiha");
                    missing += 1;
                } else {
                    assert!(!m, "{what}: point {i} is missing in hiha, {b} in ecCodes");
                    assert_eq!(
                        a.to_bits(),
                        b.to_bits(),
                        "{what}: point {i}: hiha {a:e}, ecCodes {b:e}"
                    );
                }
                values += 1;
            }
        }
        println!(
            "{}: {} fields, {values} values ({missing} missing) identical to ecCodes; {named} \
             fields named as ecCodes names them (paramId, shortName, cfVarName, units), {} not",
            path.display(),
            fields.len(),
            misnamed.len()
        );
        for m in &misnamed {
            println!("  {m}");
        }
        // Names come from a table of ecCodes' answers for common cases
        // (scripts/grib_param_table.py), not from ecCodes' own rules: the
        // bundled samples must all be named right, any file nearly all.
        let bundled = path.starts_with(common::samples_dir());
        assert!(
            if bundled {
                misnamed.is_empty()
            } else {
                misnamed.len() * 100 <= fields.len() * 3
            },
            "{}: {} of {} fields named otherwise than ecCodes names them",
            path.display(),
            misnamed.len(),
            fields.len()
        );
        total_fields += fields.len();
    }
    println!("{total_fields} fields in {} files", files.len());
}

/// A cell of a dataset variable: the coordinates that identify its field.
#[derive(Debug, Clone, PartialEq)]
struct CellKey {
    param: Vec<i64>,
    type_of_level: String,
    level: f64,
    number: Option<i64>,
    time: i64,
    step: i64,
}

fn aux_f64(meta: &DatasetMeta, name: &str) -> Vec<f64> {
    let a = meta
        .aux(name)
        .unwrap_or_else(|| panic!("coordinate '{name}'"));
    match &a.data {
        CoordData::F64(v) => v.clone(),
        CoordData::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        other => panic!("coordinate '{name}': {other:?}"),
    }
}

fn attr_i(meta: &DatasetMeta, k: &str) -> Option<i64> {
    meta.var
        .attrs
        .iter()
        .find(|a| a.name == k)
        .and_then(|a| match &a.value {
            AttrValue::I32(v) => v.first().map(|&x| i64::from(x)),
            _ => None,
        })
}

fn attr_s<'a>(meta: &'a DatasetMeta, k: &str) -> &'a str {
    meta.var
        .attrs
        .iter()
        .find(|a| a.name == k)
        .and_then(|a| match &a.value {
            AttrValue::Text(s) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

fn param_of(edition: i64, get: &dyn Fn(&str) -> Option<i64>) -> Vec<i64> {
    let keys: &[&str] = if edition == 1 {
        &["table2Version", "indicatorOfParameter"]
    } else {
        &["discipline", "parameterCategory", "parameterNumber"]
    };
    keys.iter().map(|k| get(k).unwrap_or(-1)).collect()
}

#[test]
fn the_dataset_holds_every_field_once_in_its_place() {
    for path in grib_files() {
        let ecc = ecc_dump(&path);
        let ds = hiha_io::read_any(&path, None).expect("reads the GRIB file");
        let mut cells: Vec<(CellKey, Vec<f32>, Vec<bool>, String)> = Vec::new();
        for v in &ds.variables {
            let m = &v.meta;
            let lay = &m.var.layout;
            let edition = attr_i(m, "GRIB_edition").expect("GRIB_edition");
            let param = param_of(edition, &|k| attr_i(m, &format!("GRIB_{k}")));
            let coords: Vec<&str> = attr_s(m, "coordinates").split_whitespace().collect();
            let dim_len = |d: &str| m.dim(d).expect("dim").len;
            let frame_dims: Vec<String> = lay.dims[..lay.frame_dims].to_vec();
            let lens: Vec<usize> = frame_dims.iter().map(|d| dim_len(d)).collect();
            let type_of_level = attr_s(m, "GRIB_typeOfLevel");
            let level_name = lay.level_dim.clone().unwrap_or_else(|| {
                coords
                    .iter()
                    .find(|n| **n == type_of_level || n.starts_with(&format!("{type_of_level}_")))
                    .map(|n| n.to_string())
                    .expect("level coordinate")
            });
            let levels = aux_f64(m, &level_name);
            let s = v.field.shape;
            let plane = s.lat * s.lon;
            for f in 0..s.frames {
                // Unflatten the frame index over the frame dims.
                let mut idx = vec![0usize; lens.len()];
                let mut r = f;
                for k in (0..lens.len()).rev() {
                    idx[k] = r % lens[k];
                    r /= lens[k];
                }
                let coord = |base: &str| -> Option<f64> {
                    if let Some(k) = frame_dims
                        .iter()
                        .position(|d| d == base || d.starts_with(&format!("{base}_")))
                    {
                        return Some(aux_f64(m, &frame_dims[k])[idx[k]]);
                    }
                    coords
                        .iter()
                        .find(|n| **n == base || n.starts_with(&format!("{base}_")))
                        .map(|n| aux_f64(m, n)[0])
                };
                for (l, &level) in levels.iter().enumerate().take(s.levels) {
                    let key = CellKey {
                        param: param.clone(),
                        type_of_level: type_of_level.to_string(),
                        level,
                        number: coord("number").map(|x| x as i64),
                        time: coord("time").expect("time") as i64,
                        step: (coord("step").expect("step") * 3600.0).round() as i64,
                    };
                    let start = (f * s.levels + l) * plane;
                    let vals = v.field.values[start..start + plane].to_vec();
                    let miss = (start..start + plane)
                        .map(|i| v.field.is_missing(i))
                        .collect();
                    cells.push((key, vals, miss, m.var.name.clone()));
                }
            }
        }
        assert_eq!(
            cells.len(),
            ecc.len(),
            "{}: {} cells in the dataset, {} fields in the file",
            path.display(),
            cells.len(),
            ecc.len()
        );
        let mut used = vec![false; cells.len()];
        for (n, e) in ecc.iter().enumerate() {
            let edition = e.long("edition").expect("edition");
            let key = CellKey {
                param: param_of(edition, &|k| e.long(k)),
                type_of_level: e.key("typeOfLevel").to_string(),
                level: ecc_level(e),
                number: e.long("number"),
                time: epoch(
                    e.long("dataDate").expect("date"),
                    e.long("dataTime").expect("time"),
                ),
                step: e.key("endStep").parse::<i64>().expect("endStep") * 3600,
            };
            let hits: Vec<usize> = cells
                .iter()
                .enumerate()
                .filter(|(_, c)| c.0 == key)
                .map(|(i, _)| i)
                .collect();
            let what = format!("{} field {}", path.display(), n + 1);
            // Two fields with the same coordinates differ in their values
            // only when they are different parameters (numbers equal): pick
            // the unused cell whose values match.
            let hit = hits
                .iter()
                .copied()
                .find(|&i| {
                    !used[i]
                        && cells[i].1.iter().zip(&cells[i].2).zip(&e.values).all(
                            |((&a, &m), &b)| {
                                if b.is_nan() {
                                    m
                                } else {
                                    !m && a.to_bits() == (b as f32).to_bits()
                                }
                            },
                        )
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{what} ({key:?}): no dataset cell holds its values; candidates {hits:?}"
                    )
                });
            used[hit] = true;
        }
        println!(
            "{}: {} variables, {} cells, each an ecCodes field bit for bit as f32",
            path.display(),
            ds.variables.len(),
            cells.len()
        );
    }
}
