//! Re-packing a packed source's reconstruction onto a lattice of it: the
//! encoder records a lattice only after checking, on every element, that
//! the values rounded onto it meet the bound; this test checks that claim
//! again from the outside, for every bound mode.

use hiha_core::bound::Bound;
use hiha_core::codec::{self, CompressOptions, NoProgress};
use hiha_core::field::{Field, Packing, Shape};
use hiha_core::format::ArchiveReader;
use hiha_core::meta::{Attr, AttrValue, DType, DatasetMeta, Dim, VarLayout, VarMeta};

/// A smooth int16-packed field: values `scale · k + offset` for integers k.
fn packed_field(scale: f64, offset: f64) -> (Field, DatasetMeta) {
    let shape = Shape {
        frames: 3,
        levels: 2,
        lat: 24,
        lon: 40,
    };
    let mut values = Vec::with_capacity(shape.len());
    for f in 0..shape.frames {
        for l in 0..shape.levels {
            for y in 0..shape.lat {
                for x in 0..shape.lon {
                    let v = 280.0
                        + 10.0 * ((x as f64) * 0.3 + f as f64).sin()
                        + 5.0 * ((y as f64) * 0.2 + l as f64).cos()
                        + 0.3 * ((x * 7 + y * 13 + f) as f64).sin();
                    let k = ((v - offset) / scale).round();
                    values.push((k * scale + offset) as f32);
                }
            }
        }
    }
    let mut field = Field::new(shape, values, None).expect("field");
    field.packing = Some(Packing { scale, offset });
    let meta = DatasetMeta {
        dims: ["time", "level", "lat", "lon"]
            .iter()
            .zip([shape.frames, shape.levels, shape.lat, shape.lon])
            .map(|(n, len)| Dim {
                name: n.to_string(),
                len,
                unlimited: false,
            })
            .collect(),
        global_attrs: vec![],
        aux_vars: vec![],
        var: VarMeta {
            name: "t".into(),
            layout: VarLayout {
                dims: vec!["time".into(), "level".into(), "lat".into(), "lon".into()],
                frame_dims: 1,
                level_dim: Some("level".into()),
                lat_dim: "lat".into(),
                lon_dim: "lon".into(),
            },
            dtype: DType::I16,
            attrs: vec![
                Attr::new("scale_factor", AttrValue::F64(vec![scale])),
                Attr::new("add_offset", AttrValue::F64(vec![offset])),
            ],
        },
    };
    (field, meta)
}

/// Rounds `back` onto `lattice` and measures it against the source values.
fn repacked_errors(field: &Field, back: &Field, lattice: Packing) -> (f64, f64, f64) {
    let src = field.packing.expect("packed");
    let (mut max, mut ss, mut lo, mut hi) = (0.0f64, 0.0f64, f64::MAX, f64::MIN);
    for (&a, &b) in field.values.iter().zip(&back.values) {
        let x = src.exact(a).expect("lattice value");
        let k = ((b as f64 - lattice.offset) / lattice.scale).round();
        let q = k * lattice.scale + lattice.offset;
        max = max.max((q - x).abs());
        ss += (q - x) * (q - x);
        lo = lo.min(x);
        hi = hi.max(x);
    }
    ((ss / field.values.len() as f64).sqrt(), max, hi - lo)
}

#[test]
fn a_recorded_lattice_keeps_the_bound_on_every_element() {
    let (field, meta) = packed_field(0.002, 280.0);
    for bound in [
        Bound::Nrmse(1e-3),
        Bound::Nrmse(1e-4),
        Bound::Rmse(0.05),
        Bound::MaxAbs(0.05),
        Bound::MaxAbs(0.004),
        Bound::MaxRel(1e-3),
    ] {
        for room in [0.0, 0.1] {
            let mut opts = CompressOptions::new(bound);
            opts.repack_room = room;
            let (bytes, _) = codec::compress(&field, &meta, &opts, &NoProgress).expect("compress");
            let header = ArchiveReader::open(&bytes).expect("open").header().clone();
            // Where the bound is many source steps, the room buys a coarser
            // lattice (near one step it may cost more than the room: the
            // source's own lattice is then checked, and may not hold).
            let coarse = matches!(bound, Bound::Nrmse(t) if t >= 1e-3)
                || matches!(bound, Bound::MaxAbs(e) | Bound::Rmse(e) if e >= 0.05)
                || matches!(bound, Bound::MaxRel(_));
            let Some(r) = codec::repacking(&header).expect("config") else {
                assert!(
                    room == 0.0 || !coarse,
                    "{bound}: room was made, a lattice should hold"
                );
                continue;
            };
            // A power-of-two multiple of the source's scale, same offset.
            let m = r.scale / 0.002;
            assert!(
                m >= 1.0 && m.fract() == 0.0 && (m as u64).is_power_of_two(),
                "{m}"
            );
            assert_eq!(r.offset, 280.0);
            let (back, _) = codec::decompress(&bytes, None).expect("decode");
            let (rmse, max, range) = repacked_errors(&field, &back, r.packing());
            let ok = match bound {
                Bound::Nrmse(t) => rmse <= t * range,
                Bound::Rmse(e) => rmse <= e,
                Bound::MaxAbs(e) => max <= e,
                Bound::MaxRel(q) => max <= q * range,
                other => panic!("{other} is not a bound this test re-packs"),
            };
            assert!(ok, "{bound}, room {room}: rmse {rmse}, max {max}");
            assert!((r.max_abs - max).abs() <= 1e-12 && (r.rmse - rmse).abs() <= 1e-9);
            if room > 0.0 && coarse {
                assert!(m > 1.0, "{bound}: room should buy a coarser lattice");
            }
        }
    }
}

#[test]
fn unpacked_sources_record_no_lattice_and_bad_room_is_refused() {
    let (mut field, meta) = packed_field(0.002, 280.0);
    field.packing = None;
    let opts = CompressOptions::new(Bound::Nrmse(1e-3));
    let (bytes, _) = codec::compress(&field, &meta, &opts, &NoProgress).expect("compress");
    let header = ArchiveReader::open(&bytes).expect("open").header().clone();
    assert_eq!(codec::repacking(&header).expect("config"), None);
    let mut opts = CompressOptions::new(Bound::Nrmse(1e-3));
    opts.repack_room = 1.0;
    assert!(codec::compress(&field, &meta, &opts, &NoProgress).is_err());
}
