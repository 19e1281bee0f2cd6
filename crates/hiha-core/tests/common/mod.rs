//! Helpers the core's integration tests share: the metadata of a plain
//! time × level × latitude × longitude variable. (Each test binary uses a
//! part of them.)
#![allow(dead_code)]

use hiha_core::meta::{DType, DatasetMeta, Dim, VarLayout, VarMeta};

/// A float32 variable `name` on dims time, level, latitude, longitude, one
/// frame per time.
pub fn grid_var(name: &str) -> VarMeta {
    VarMeta {
        name: name.into(),
        layout: VarLayout {
            dims: ["time", "level", "latitude", "longitude"]
                .map(String::from)
                .to_vec(),
            frame_dims: 1,
            level_dim: Some("level".into()),
            lat_dim: "latitude".into(),
            lon_dim: "longitude".into(),
        },
        dtype: DType::F32,
        attrs: vec![],
    }
}

/// The dims time, level, latitude, longitude of lengths `lens`.
pub fn grid_dims(lens: [usize; 4]) -> Vec<Dim> {
    ["time", "level", "latitude", "longitude"]
        .iter()
        .zip(lens)
        .map(|(name, len)| Dim {
            name: (*name).into(),
            len,
            unlimited: false,
        })
        .collect()
}

/// The metadata of [`grid_var`] `name` of dims `lens`, with no coordinate
/// values and no attributes.
pub fn grid_meta(name: &str, lens: [usize; 4]) -> DatasetMeta {
    DatasetMeta {
        dims: grid_dims(lens),
        global_attrs: vec![],
        aux_vars: vec![],
        var: grid_var(name),
    }
}
