//! Shared fixtures of the `format` tests (included by `format*.rs` with
//! `#[path]`; compiled alone it holds no test).
//!
//! [`small_header`] and [`sample_sections`] are FROZEN: the v1 golden file is
//! built from them, so changing either means re-blessing it
//! (`HIHA_BLESS=1 cargo test -p hiha-core --test format_golden`) and
//! explaining why in the commit.
#![allow(dead_code)]

use hiha_core::bound::Bound;
use hiha_core::field::Shape;
use hiha_core::format::{ArchiveWriter, Header, SectionKind};
use hiha_core::meta::{
    Attr, AttrValue, AuxVar, CoordData, DType, DatasetMeta, Dim, VarLayout, VarMeta,
};

pub fn text(name: &str, v: &str) -> Attr {
    Attr::new(name, AttrValue::Text(v.into()))
}

fn aux(name: &str, dims: &[&str], dtype: DType, attrs: Vec<Attr>, data: CoordData) -> AuxVar {
    AuxVar {
        name: name.into(),
        dims: dims.iter().map(|d| d.to_string()).collect(),
        dtype,
        attrs,
        data,
    }
}

/// A small but realistic header: ERA5-like temperature on pressure levels,
/// 4 frames × 3 levels × 16 lat × 32 lon, with every attribute type, raw
/// and progression coordinates of several types, and a text coordinate.
pub fn small_header() -> Header {
    let dims = vec![
        Dim {
            name: "time".into(),
            len: 4,
            unlimited: true,
        },
        Dim {
            name: "level".into(),
            len: 3,
            unlimited: false,
        },
        Dim {
            name: "latitude".into(),
            len: 16,
            unlimited: false,
        },
        Dim {
            name: "longitude".into(),
            len: 32,
            unlimited: false,
        },
        Dim {
            name: "nchar".into(),
            len: 8,
            unlimited: false,
        },
    ];
    // An irregular (Gaussian-like) latitude axis: stored raw.
    let lat: Vec<f64> = (0..16)
        .map(|i| 87.1875 - (i as f64) * 11.25 + (i * i) as f64 * 1e-3)
        .collect();
    let global_attrs = vec![
        text("Conventions", "CF-1.6"),
        text(
            "history",
            "2024-05-01 by grib_to_netcdf; subset by hiha tests",
        ),
        Attr::new("i8s", AttrValue::I8(vec![-1, 2])),
        Attr::new("u8s", AttrValue::U8(vec![255])),
        Attr::new("u16s", AttrValue::U16(vec![65535, 1])),
        Attr::new("i32s", AttrValue::I32(vec![])),
        Attr::new("u32s", AttrValue::U32(vec![4_000_000_000])),
        Attr::new("i64s", AttrValue::I64(vec![i64::MIN, 0, i64::MAX])),
        Attr::new("u64s", AttrValue::U64(vec![u64::MAX])),
        Attr::new("f32s", AttrValue::F32(vec![1.5, -0.0])),
        Attr::new("unicode", AttrValue::Text("température °C — ok".into())),
    ];
    let aux_vars = vec![
        aux(
            "time",
            &["time"],
            DType::I32,
            vec![
                text("units", "hours since 1900-01-01 00:00:00.0"),
                text("long_name", "time"),
                text("calendar", "gregorian"),
            ],
            CoordData::I32(vec![1_086_600, 1_086_606, 1_086_612, 1_086_618]),
        ),
        aux(
            "level",
            &["level"],
            DType::I32,
            vec![
                text("units", "millibars"),
                text("long_name", "pressure_level"),
            ],
            CoordData::F32(vec![1000.0, 850.0, 500.0]),
        ),
        aux(
            "latitude",
            &["latitude"],
            DType::F64,
            vec![
                text("units", "degrees_north"),
                text("long_name", "latitude"),
            ],
            CoordData::F64(lat),
        ),
        aux(
            "longitude",
            &["longitude"],
            DType::F32,
            vec![
                text("units", "degrees_east"),
                text("long_name", "longitude"),
            ],
            CoordData::F32((0..32).map(|i| i as f32 * 11.25).collect()),
        ),
        aux(
            "lat_edges",
            &["lat_edge"],
            DType::F64,
            vec![],
            CoordData::F64((0..17).map(|i| 90.0 - i as f64 * 11.25).collect()),
        ),
        aux(
            "member",
            &[],
            DType::I16,
            vec![],
            CoordData::I16(vec![3, 5, 7, 9, 11, 13]),
        ),
        aux(
            "flags",
            &["level"],
            DType::U8,
            vec![],
            CoordData::U8(vec![1, 0, 1]),
        ),
        aux(
            "tiny",
            &[],
            DType::I8,
            vec![],
            CoordData::I8(vec![-128, 127]),
        ),
        aux(
            "steps",
            &["time"],
            DType::I64,
            vec![],
            CoordData::I64(vec![0, 21_600, 43_200, 64_800]),
        ),
        aux(
            "source",
            &["nchar"],
            DType::Char,
            vec![],
            CoordData::Text(b"ERA5\0\0\0\0".to_vec()),
        ),
    ];
    let var = VarMeta {
        name: "t".into(),
        layout: VarLayout {
            dims: vec![
                "time".into(),
                "level".into(),
                "latitude".into(),
                "longitude".into(),
            ],
            frame_dims: 1,
            level_dim: Some("level".into()),
            lat_dim: "latitude".into(),
            lon_dim: "longitude".into(),
        },
        dtype: DType::I16,
        attrs: vec![
            Attr::new("scale_factor", AttrValue::F64(vec![0.0019172122530498525])),
            Attr::new("add_offset", AttrValue::F64(vec![257.2134561474907])),
            Attr::new("_FillValue", AttrValue::I16(vec![-32767])),
            Attr::new("missing_value", AttrValue::I16(vec![-32767])),
            text("units", "K"),
            text("long_name", "Temperature"),
            text("standard_name", "air_temperature"),
        ],
    };
    Header {
        meta: DatasetMeta {
            dims,
            global_attrs,
            aux_vars,
            var,
        },
        shape: Shape::new(4, 3, 16, 32),
        bound: Bound::MaxAbs(0.05),
        codec_config: r#"{"version":1,"predictor":"fic","residual":{"q":"uniform"}}"#.into(),
        extra: vec![0x01, 0x00, 0x00, 0x80, 0x3F, 0xFF],
        variables: vec![],
    }
}

/// One section to write: kind, frames, dependency, payload.
pub type Spec = (SectionKind, std::ops::Range<u32>, Option<u32>, Vec<u8>);

/// Deterministic pseudo-random bytes.
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

/// Sections of a 4-frame archive with keyframe chains:
/// 0 mask 0..4; 1 predictor 0..4; 2 residual 0..1 (keyframe, needs 1);
/// 3 residual 1..2 (needs 2); 4 residual 2..3 (needs 3);
/// 5 residual 3..4 (keyframe, needs 1); 6 trc 2..4; 7 ssm (no frames, empty).
pub fn sample_sections() -> Vec<Spec> {
    vec![
        (SectionKind::Mask, 0..4, None, noise(1, 23)),
        (SectionKind::Predictor, 0..4, None, noise(2, 97)),
        (SectionKind::Residual, 0..1, Some(1), noise(3, 150)),
        (SectionKind::Residual, 1..2, Some(2), noise(4, 64)),
        (SectionKind::Residual, 2..3, Some(3), noise(5, 65)),
        (SectionKind::Residual, 3..4, Some(1), noise(6, 140)),
        (SectionKind::Trc, 2..4, None, noise(7, 31)),
        (SectionKind::Ssm, 0..0, None, Vec::new()),
    ]
}

pub fn build(header: &Header, sections: &[Spec]) -> Vec<u8> {
    let mut w = ArchiveWriter::new(header).expect("header");
    for (k, f, d, p) in sections {
        w.add_section(*k, f.clone(), *d, p).expect("section");
    }
    w.finish().expect("finish")
}

pub fn sample_archive() -> Vec<u8> {
    build(&small_header(), &sample_sections())
}

// ---- raw-layout helpers for tests that hand-craft archives ----

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The parts of a valid archive, split per docs/FORMAT.md.
#[derive(Debug, Clone)]
pub struct Parts {
    pub version: (u16, u16),
    pub header: Vec<u8>,
    pub payload: Vec<u8>,
    pub index: Vec<u8>,
}

pub fn split(bytes: &[u8]) -> Parts {
    let version = (
        u16::from_le_bytes([bytes[8], bytes[9]]),
        u16::from_le_bytes([bytes[10], bytes[11]]),
    );
    let (mut len, mut shift, mut pos) = (0u64, 0, 12);
    loop {
        let b = bytes[pos];
        len |= ((b & 0x7F) as u64) << shift;
        shift += 7;
        pos += 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    let header_end = pos + len as usize;
    let n = bytes.len();
    let index_len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().expect("4 bytes")) as usize;
    let index_start = n - 12 - index_len;
    Parts {
        version,
        header: hiha_core::format::unsqueeze(&bytes[pos..header_end], 1 << 28)
            .expect("header block"),
        payload: bytes[header_end + 4..index_start].to_vec(),
        index: bytes[index_start..n - 12].to_vec(),
    }
}

/// Reassembles an archive from parts with correct lengths and CRCs.
pub fn join(p: &Parts) -> Vec<u8> {
    let mut out = hiha_core::format::MAGIC.to_vec();
    out.extend_from_slice(&p.version.0.to_le_bytes());
    out.extend_from_slice(&p.version.1.to_le_bytes());
    // Stored raw (coding 0): tests edit header bytes directly.
    put_varint(&mut out, p.header.len() as u64 + 1);
    out.push(0);
    out.extend_from_slice(&p.header);
    let crc = hiha_core::format::crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&p.payload);
    out.extend_from_slice(&p.index);
    out.extend_from_slice(&hiha_core::format::crc32(&p.index).to_le_bytes());
    out.extend_from_slice(&(p.index.len() as u32).to_le_bytes());
    out.extend_from_slice(&hiha_core::format::END_MAGIC);
    out
}

/// The header of a real file: ERA5 2 m temperature at 0.25° as the CDS
/// delivered it as NetCDF (grib_to_netcdf), `frames` hourly steps.
pub fn era5_t2m_header(frames: usize) -> Header {
    let dims = vec![
        Dim {
            name: "longitude".into(),
            len: 1440,
            unlimited: false,
        },
        Dim {
            name: "latitude".into(),
            len: 721,
            unlimited: false,
        },
        Dim {
            name: "time".into(),
            len: frames,
            unlimited: true,
        },
    ];
    let aux_vars = vec![
        aux(
            "longitude",
            &["longitude"],
            DType::F32,
            vec![
                text("units", "degrees_east"),
                text("long_name", "longitude"),
            ],
            CoordData::F32((0..1440).map(|i| i as f32 * 0.25).collect()),
        ),
        aux(
            "latitude",
            &["latitude"],
            DType::F32,
            vec![
                text("units", "degrees_north"),
                text("long_name", "latitude"),
            ],
            CoordData::F32((0..721).map(|i| 90.0 - i as f32 * 0.25).collect()),
        ),
        aux(
            "time",
            &["time"],
            DType::I32,
            vec![
                text("units", "hours since 1900-01-01 00:00:00.0"),
                text("long_name", "time"),
                text("calendar", "gregorian"),
            ],
            CoordData::I32((0..frames as i32).map(|i| 1_086_600 + i).collect()),
        ),
    ];
    let var = VarMeta {
        name: "t2m".into(),
        layout: VarLayout {
            dims: vec!["time".into(), "latitude".into(), "longitude".into()],
            frame_dims: 1,
            level_dim: None,
            lat_dim: "latitude".into(),
            lon_dim: "longitude".into(),
        },
        dtype: DType::I16,
        attrs: vec![
            Attr::new("scale_factor", AttrValue::F64(vec![0.0018024161462584738])),
            Attr::new("add_offset", AttrValue::F64(vec![262.3214863309332])),
            Attr::new("_FillValue", AttrValue::I16(vec![-32767])),
            Attr::new("missing_value", AttrValue::I16(vec![-32767])),
            text("units", "K"),
            text("long_name", "2 metre temperature"),
        ],
    };
    let global_attrs = vec![
        text("Conventions", "CF-1.6"),
        text(
            "history",
            "2024-01-15 09:21:44 GMT by grib_to_netcdf-2.25.1: /opt/ecmwf/mars-client/bin/grib_to_netcdf.bin \
             -S param -o /cache/data7/adaptor.mars.internal-1705310502.6513717-20480-3-0a1b2c3d.nc \
             /cache/tmp/0a1b2c3d-adaptor.mars.internal-1705310498.8802407-20480-5-tmp.grib",
        ),
    ];
    Header {
        meta: DatasetMeta {
            dims,
            global_attrs,
            aux_vars,
            var,
        },
        shape: Shape::new(frames, 1, 721, 1440),
        bound: Bound::MaxAbs(0.1),
        codec_config: r#"{"version":1,"predictor":"fic","residual":"max-abs"}"#.into(),
        extra: vec![0u8; 16],
        variables: vec![],
    }
}

/// A two-variable header (format 2.1): [`small_header`] plus a 2-D surface
/// variable `sp` sharing its dims. FROZEN like the others: the v2
/// `multi.hiha` golden file is built from it.
pub fn multi_header() -> Header {
    let mut h = small_header();
    h.variables.push(hiha_core::format::VarHeader {
        var: VarMeta {
            name: "sp".into(),
            layout: VarLayout {
                dims: vec!["time".into(), "latitude".into(), "longitude".into()],
                frame_dims: 1,
                level_dim: None,
                lat_dim: "latitude".into(),
                lon_dim: "longitude".into(),
            },
            dtype: DType::I16,
            attrs: vec![
                text("units", "Pa"),
                Attr::new("scale_factor", AttrValue::F64(vec![0.25])),
            ],
        },
        shape: Shape::new(4, 1, 16, 32),
        bound: Bound::Rmse(10.0),
        codec_config: "predictor = \"none\"\n".into(),
        extra: vec![7],
    });
    h
}

/// Sections of [`multi_header`]: those of [`sample_sections`] for variable
/// 0, then two for variable 1 (the second depending on the first).
pub fn multi_sections() -> Vec<(u32, Spec)> {
    let mut out: Vec<(u32, Spec)> = sample_sections().into_iter().map(|s| (0, s)).collect();
    out.push((1, (SectionKind::Mask, 0..4, None, noise(8, 12))));
    out.push((1, (SectionKind::Residual, 0..4, Some(8), noise(9, 77))));
    out
}

pub fn multi_archive() -> Vec<u8> {
    let mut w = ArchiveWriter::new(&multi_header()).expect("header");
    for (v, (k, f, d, p)) in multi_sections() {
        w.add_variable_section(v, k, f, d, &p).expect("section");
    }
    w.finish().expect("finish")
}
