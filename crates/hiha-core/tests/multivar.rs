//! Multi-variable archives (format 2.1): several variables of one dataset,
//! each with its own bound, in one archive; each decodes alone, reading
//! only its own sections, and is byte for byte the archive it would be on
//! its own.

use hiha_core::bound::Bound;
use hiha_core::codec::{self, CompressOptions, DecodeOptions, NoProgress, VariableInput};
use hiha_core::field::{Field, Shape};
use hiha_core::format::{self, ArchiveReader};
use hiha_core::meta::{AuxVar, CoordData, DType, DatasetMeta, Dim, VarLayout, VarMeta};
use hiha_core::metrics::Metrics;

/// A real ERA5 u series (6 × 2 × 41 × 41) and, as a second variable, a
/// derived 2-D field (level 0 squared, in other units) on the same grid.
fn dataset() -> (Vec<Field>, Vec<DatasetMeta>) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/era5_u_6x2x41x41.f32"
    );
    let bytes = std::fs::read(path).expect("fixture");
    let u: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let frame = 2 * 41 * 41;
    let ke: Vec<f32> = (0..6)
        .flat_map(|t| {
            u[t * frame..t * frame + 41 * 41]
                .iter()
                .map(|x| 0.5 * x * x)
        })
        .collect();
    let fu = Field::new(Shape::new(6, 2, 41, 41), u, None).expect("u");
    let fk = Field::new(Shape::new(6, 1, 41, 41), ke, None).expect("ke");
    let dim = |name: &str, len: usize| Dim {
        name: name.into(),
        len,
        unlimited: false,
    };
    let coord = |name: &str, v: Vec<f64>| AuxVar {
        name: name.into(),
        dims: vec![name.into()],
        dtype: DType::F64,
        attrs: vec![],
        data: CoordData::F64(v),
    };
    let var = |name: &str, level: bool| VarMeta {
        name: name.into(),
        layout: VarLayout {
            dims: if level {
                ["time", "level", "latitude", "longitude"]
                    .map(String::from)
                    .to_vec()
            } else {
                ["time", "latitude", "longitude"].map(String::from).to_vec()
            },
            frame_dims: 1,
            level_dim: level.then(|| "level".to_string()),
            lat_dim: "latitude".into(),
            lon_dim: "longitude".into(),
        },
        dtype: DType::F32,
        attrs: vec![],
    };
    let base = DatasetMeta {
        dims: vec![
            dim("time", 6),
            dim("level", 2),
            dim("latitude", 41),
            dim("longitude", 41),
        ],
        global_attrs: vec![],
        aux_vars: vec![
            coord("time", (0..6).map(f64::from).collect()),
            coord("level", vec![500.0, 850.0]),
            coord(
                "latitude",
                (0..41).map(|i| 55.0 - 0.25 * f64::from(i)).collect(),
            ),
            coord("longitude", (0..41).map(|i| 0.25 * f64::from(i)).collect()),
        ],
        var: var("u", true),
    };
    let mut mk = base.clone();
    mk.var = var("ke", false);
    (vec![fu, fk], vec![base, mk])
}

#[test]
fn each_variable_keeps_its_own_bound_and_decodes_alone() {
    let (fields, metas) = dataset();
    let bounds = [Bound::Nrmse(1e-3), Bound::MaxAbs(0.05)];
    let opts: Vec<CompressOptions> = bounds.iter().map(|&b| CompressOptions::new(b)).collect();
    let inputs: Vec<VariableInput> = (0..2)
        .map(|k| VariableInput {
            field: &fields[k],
            meta: &metas[k],
            opts: &opts[k],
        })
        .collect();
    let (bytes, reports) = codec::compress_many(&inputs, &NoProgress).expect("compress");
    assert_eq!(reports.len(), 2);
    let r = ArchiveReader::open(&bytes).expect("open");
    // Multi-variable: 2.1, or 2.2 where a chunk uses the wavelet coder's
    // packet plan (these fields' level axes are long enough).
    assert!(
        [(2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (2, 6)].contains(&r.version()),
        "{:?}",
        r.version()
    );
    assert_eq!(codec::variables(&bytes).expect("names"), vec!["u", "ke"]);

    for k in 0..2 {
        let name = &metas[k].var.name;
        let (back, meta) =
            codec::decompress_variable(&bytes, name, None, &DecodeOptions::default())
                .expect("decode");
        assert_eq!(&meta, &metas[k]);
        let m = Metrics::against_source(&fields[k], &back.values).expect("metrics");
        bounds[k].check(&m).expect("bound on every element");
        // Reading one variable touches only its sections.
        let view = r.for_variable(k).expect("view");
        assert!(view.sections().len() < r.sections().len());
        // And it is, byte for byte, the archive it would be alone.
        let (alone, _) =
            codec::compress(&fields[k], &metas[k], &opts[k], &NoProgress).expect("alone");
        assert_eq!(format::extract_variable(&bytes, k).expect("extract"), alone);
    }
    // Frames of one variable.
    let (part, _) = codec::decompress_variable(&bytes, "ke", Some(2..4), &DecodeOptions::default())
        .expect("frames");
    assert_eq!(part.shape.frames, 2);

    // The one-variable API refuses, naming the variables.
    let e = codec::decompress(&bytes, None).unwrap_err().to_string();
    assert!(e.contains("2 variables (u, ke)"), "{e}");
    let e = codec::decompress_variable(&bytes, "v", None, &DecodeOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no variable 'v'") && e.contains("u, ke"), "{e}");

    // verify and describe cover every variable.
    let v = codec::verify(&bytes, &DecodeOptions::default()).expect("verify");
    assert_eq!(v.variables, 2);
    assert_eq!(v.values, fields[0].values.len() + fields[1].values.len());
    let d = codec::describe(&bytes).expect("describe");
    assert!(d.text.contains("2 variables (u, ke)"), "{}", d.text);
    assert!(d.damaged.is_empty());
}

/// xarray writes `_FillValue = NaN` on float coordinates: NaN is not `==`
/// to itself, yet the variables share those coordinates.
#[test]
fn nan_attributes_do_not_split_a_dataset() {
    let (fields, mut metas) = dataset();
    for m in &mut metas {
        m.aux_vars[2].attrs.push(hiha_core::meta::Attr::new(
            "_FillValue",
            hiha_core::meta::AttrValue::F64(vec![f64::NAN]),
        ));
    }
    let opts = CompressOptions::new(Bound::Nrmse(1e-3));
    let inputs: Vec<VariableInput> = (0..2)
        .map(|k| VariableInput {
            field: &fields[k],
            meta: &metas[k],
            opts: &opts,
        })
        .collect();
    let (bytes, _) = codec::compress_many(&inputs, &NoProgress).expect("compress");
    assert_eq!(codec::variables(&bytes).expect("names"), vec!["u", "ke"]);
}

#[test]
fn variables_of_different_datasets_do_not_merge() {
    let (fields, metas) = dataset();
    let o = CompressOptions::new(Bound::Nrmse(1e-2));
    let mut other = metas[1].clone();
    other.aux_vars[1].data = CoordData::F64(vec![300.0, 700.0]);
    let inputs = [
        VariableInput {
            field: &fields[0],
            meta: &metas[0],
            opts: &o,
        },
        VariableInput {
            field: &fields[1],
            meta: &other,
            opts: &o,
        },
    ];
    let e = codec::compress_many(&inputs, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(e.contains("coordinates"), "{e}");
    // Two variables of one name cannot share an archive either.
    let mut twin = metas[1].clone();
    twin.var.name = "u".into();
    let inputs = [
        VariableInput {
            field: &fields[0],
            meta: &metas[0],
            opts: &o,
        },
        VariableInput {
            field: &fields[1],
            meta: &twin,
            opts: &o,
        },
    ];
    assert!(codec::compress_many(&inputs, &NoProgress).is_err());
}

/// Damage in one variable's sections does not stop the other from
/// decoding, and is reported when the damaged one is read.
#[test]
fn damage_stays_with_its_variable() {
    let (fields, metas) = dataset();
    let o = CompressOptions::new(Bound::Nrmse(1e-3));
    let inputs: Vec<VariableInput> = (0..2)
        .map(|k| VariableInput {
            field: &fields[k],
            meta: &metas[k],
            opts: &o,
        })
        .collect();
    let (mut bytes, _) = codec::compress_many(&inputs, &NoProgress).expect("compress");
    let s = {
        let r = ArchiveReader::open(&bytes).expect("open");
        let v1 = r.for_variable(1).expect("view");
        v1.sections()[0].clone()
    };
    bytes[s.offset as usize] ^= 0x40;
    let opts = DecodeOptions::default();
    codec::decompress_variable(&bytes, "u", None, &opts).expect("u is intact");
    assert!(codec::decompress_variable(&bytes, "ke", None, &opts).is_err());
    assert!(codec::verify(&bytes, &opts).is_err());
    assert_eq!(codec::describe(&bytes).expect("describe").damaged.len(), 1);
}

/// Issue 13: per-level bounds hold on every level against its own range,
/// where a bound on the whole lets the small levels go (a humidity-like
/// field whose upper level is 10^4 times smaller); every mode keeps each
/// level inside its own [min, max], so a non-negative field stays
/// non-negative.
#[test]
fn per_level_bounds_and_ranges_hold_on_every_level() {
    let (fields, metas) = dataset();
    // |u|, with level 0 scaled down like upper-level humidity.
    let u = &fields[0];
    let plane = 41 * 41;
    let values: Vec<f32> = u
        .values
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let level = (i / plane) % 2;
            x.abs() * if level == 0 { 1e-4 } else { 1.0 }
        })
        .collect();
    let q = Field::new(u.shape, values, None).expect("field");
    let levels_of = |recon: &[f32]| -> Vec<Metrics> {
        let opts = [&q.values[..], recon];
        (0..2)
            .map(|l| {
                let pick = |v: &[f32]| -> Vec<f32> {
                    (0..6)
                        .flat_map(|f| v[(f * 2 + l) * plane..(f * 2 + l + 1) * plane].to_vec())
                        .collect()
                };
                Metrics::compute(&pick(opts[0]), &pick(opts[1]), None).expect("metrics")
            })
            .collect()
    };
    // Plain NRMSE: the small level is wrecked (its own NRMSE far above).
    let plain = CompressOptions::new(Bound::Nrmse(1e-3));
    let (bytes, _) = codec::compress(&q, &metas[0], &plain, &NoProgress).expect("plain");
    let (back, _) = codec::decompress(&bytes, None).expect("decode");
    assert!(levels_of(&back.values)[0].nrmse > 1e-2);
    // Per level: every level within 1e-3 of its own range.
    for b in [Bound::NrmseLevel(1e-3), Bound::MaxRelLevel(1e-3)] {
        let (bytes, _) = codec::compress(&q, &metas[0], &CompressOptions::new(b), &NoProgress)
            .expect("per level");
        // 2.1 for the bound, 2.2 when a chunk uses the packet plan, 2.3 its
        // primed models.
        let v = ArchiveReader::open(&bytes).expect("open").version();
        assert!(
            [(2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (2, 6)].contains(&v),
            "{v:?}"
        );
        assert_eq!(ArchiveReader::open(&bytes).expect("open").header().bound, b);
        let (back, _) = codec::decompress(&bytes, None).expect("decode");
        for (l, m) in levels_of(&back.values).iter().enumerate() {
            b.check(m).unwrap_or_else(|e| panic!("{b} level {l}: {e}"));
        }
    }
    // Every mode: non-negative and inside each level's range (as the
    // archive stores it: for the plain bounds its ends rounded outwards to
    // 16-bit floats, at most 2^-7 of their magnitude).
    for b in [
        Bound::Nrmse(1e-2),
        Bound::MaxAbs(0.5),
        Bound::MaxRel(1e-2),
        Bound::NrmseLevel(1e-2),
    ] {
        let (bytes, _) =
            codec::compress(&q, &metas[0], &CompressOptions::new(b), &NoProgress).expect("code");
        let (back, _) = codec::decompress(&bytes, None).expect("decode");
        for l in 0..2 {
            let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
            for f in 0..6 {
                for &x in &q.values[(f * 2 + l) * plane..(f * 2 + l + 1) * plane] {
                    lo = lo.min(x);
                    hi = hi.max(x);
                }
            }
            if !b.is_per_level() {
                lo -= lo.abs() / 128.0;
                hi += hi.abs() / 128.0;
            }
            for f in 0..6 {
                for &y in &back.values[(f * 2 + l) * plane..(f * 2 + l + 1) * plane] {
                    assert!(
                        y >= lo && y <= hi && y >= 0.0,
                        "{b} level {l}: {y} not in [{lo}, {hi}]"
                    );
                }
            }
        }
    }
    // Per-level bounds need the residual coder alone.
    let mut o = CompressOptions::new(Bound::NrmseLevel(1e-3));
    o.predictor = hiha_core::codec::PredictorKind::Fic;
    assert!(codec::compress(&q, &metas[0], &o, &NoProgress).is_err());
}
