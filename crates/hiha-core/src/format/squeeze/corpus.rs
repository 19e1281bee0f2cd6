//! How `primer2.bin` (header coding 2's primer) is made: typical headers
//! of the datasets hiha is for, in the raw header layout, then text.
//!
//! The headers describe the metadata of widely used sources as they are
//! delivered: ERA5 from the Copernicus Climate Data Store (today's NetCDF-4
//! made by cfgrib, and the older `grib_to_netcdf` NetCDF-3 with packed
//! int16 values), GFS read with cfgrib, the NOAA PSL NCEP/NCAR reanalysis,
//! and a CMIP6 model output. None is copied from a file of the test data:
//! the point is the vocabulary and the layout, which every such file
//! shares. Values (coordinates, dates, ids) are typical, not real.
//!
//! `primer2.bin` is frozen: it is part of format 2.4. The test
//! `primer_2_is_what_the_corpus_makes` checks that this code still makes
//! it; set `HIHA_WRITE_PRIMER=1` to rewrite it (a format change).

use crate::bound::Bound;
use crate::field::Shape;
use crate::format::header;
use crate::format::Header;
use crate::meta::{
    Attr, AttrValue, AuxVar, CoordData, DType, DatasetMeta, Dim, VarLayout, VarMeta,
};

fn text(name: &str, v: &str) -> Attr {
    Attr {
        name: name.into(),
        value: AttrValue::Text(v.into()),
    }
}

fn f64a(name: &str, v: &[f64]) -> Attr {
    Attr {
        name: name.into(),
        value: AttrValue::F64(v.to_vec()),
    }
}

fn f32a(name: &str, v: &[f32]) -> Attr {
    Attr {
        name: name.into(),
        value: AttrValue::F32(v.to_vec()),
    }
}

fn i64a(name: &str, v: i64) -> Attr {
    Attr {
        name: name.into(),
        value: AttrValue::I64(vec![v]),
    }
}

fn i16a(name: &str, v: i16) -> Attr {
    Attr {
        name: name.into(),
        value: AttrValue::I16(vec![v]),
    }
}

fn dim(name: &str, len: usize, unlimited: bool) -> Dim {
    Dim {
        name: name.into(),
        len,
        unlimited,
    }
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

fn grid(n: usize, start: f64, step: f64) -> Vec<f64> {
    (0..n).map(|i| start + i as f64 * step).collect()
}

fn lat_lon(lat: usize, lon: usize, step: f64, f32s: bool) -> [AuxVar; 2] {
    let la = grid(lat, 90.0, -step);
    let lo = grid(lon, 0.0, step);
    let (la, lo, t) = if f32s {
        (
            CoordData::F32(la.iter().map(|&v| v as f32).collect()),
            CoordData::F32(lo.iter().map(|&v| v as f32).collect()),
            DType::F32,
        )
    } else {
        (CoordData::F64(la), CoordData::F64(lo), DType::F64)
    };
    [
        aux(
            "latitude",
            &["latitude"],
            t,
            vec![
                text("units", "degrees_north"),
                text("standard_name", "latitude"),
                text("long_name", "latitude"),
                text("stored_direction", "decreasing"),
            ],
            la,
        ),
        aux(
            "longitude",
            &["longitude"],
            t,
            vec![
                text("units", "degrees_east"),
                text("standard_name", "longitude"),
                text("long_name", "longitude"),
            ],
            lo,
        ),
    ]
}

fn config(min: f64, max: f64, frames: usize) -> String {
    format!(
        "predictor = \"none\"\nchunk_frames = {frames}\nvalue_min = {min:?}\nvalue_max = {max:?}\nconstant = false\n"
    )
}

#[allow(clippy::too_many_arguments)]
fn header(
    dims: Vec<Dim>,
    global: Vec<Attr>,
    aux_vars: Vec<AuxVar>,
    var: &str,
    var_dims: &[&str],
    level: Option<&str>,
    dtype: DType,
    attrs: Vec<Attr>,
    shape: Shape,
    bound: Bound,
    min: f64,
    max: f64,
) -> Vec<u8> {
    let n = var_dims.len();
    let h = Header {
        meta: DatasetMeta {
            dims,
            global_attrs: global,
            aux_vars,
            var: VarMeta {
                name: var.into(),
                layout: VarLayout {
                    dims: var_dims.iter().map(|d| d.to_string()).collect(),
                    frame_dims: n - 2 - usize::from(level.is_some()),
                    level_dim: level.map(|l| l.into()),
                    lat_dim: var_dims[n - 2].into(),
                    lon_dim: var_dims[n - 1].into(),
                },
                dtype,
                attrs,
            },
        },
        shape,
        bound,
        codec_config: config(min, max, shape.frames.min(24)),
        extra: Vec::new(),
        variables: Vec::new(),
    };
    header::encode(&h).expect("primer header")
}

/// The GRIB attributes cfgrib gives a variable.
#[allow(clippy::too_many_arguments)]
fn grib_attrs(
    param: i64,
    short: &str,
    units: &str,
    name: &str,
    cf: &str,
    data_type: &str,
    level_type: &str,
    n: (i64, i64),
    step: f64,
) -> Vec<Attr> {
    vec![
        Attr {
            name: "_FillValue".into(),
            value: AttrValue::F32(vec![f32::NAN]),
        },
        i64a("GRIB_paramId", param),
        text("GRIB_dataType", data_type),
        i64a("GRIB_numberOfPoints", n.0 * n.1),
        text("GRIB_typeOfLevel", level_type),
        i64a("GRIB_stepUnits", 1),
        text("GRIB_stepType", "instant"),
        text("GRIB_gridType", "regular_ll"),
        i64a("GRIB_uvRelativeToGrid", 0),
        i64a("GRIB_NV", 0),
        i64a("GRIB_Nx", n.1),
        i64a("GRIB_Ny", n.0),
        text("GRIB_cfName", cf),
        text("GRIB_cfVarName", short),
        text("GRIB_gridDefinitionDescription", "Latitude/Longitude Grid"),
        f64a("GRIB_iDirectionIncrementInDegrees", &[step]),
        i64a("GRIB_iScansNegatively", 0),
        f64a("GRIB_jDirectionIncrementInDegrees", &[step]),
        i64a("GRIB_jPointsAreConsecutive", 0),
        i64a("GRIB_jScansPositively", 0),
        f64a("GRIB_latitudeOfFirstGridPointInDegrees", &[90.0]),
        f64a("GRIB_latitudeOfLastGridPointInDegrees", &[-90.0]),
        f64a("GRIB_longitudeOfFirstGridPointInDegrees", &[0.0]),
        f64a("GRIB_longitudeOfLastGridPointInDegrees", &[360.0 - step]),
        f64a("GRIB_missingValue", &[3.4028234663852886e38]),
        text("GRIB_name", name),
        text("GRIB_shortName", short),
        i64a("GRIB_totalNumber", 0),
        text("GRIB_units", units),
        text("long_name", name),
        text("units", units),
        text("standard_name", cf),
    ]
}

/// ERA5 on pressure levels from today's CDS (NetCDF-4 written by cfgrib).
fn era5_cds() -> Vec<u8> {
    let levels = [1000.0, 925.0, 850.0, 700.0, 500.0, 300.0, 250.0, 200.0];
    let [lat, lon] = lat_lon(721, 1440, 0.25, false);
    let times: Vec<i64> = (0..24).map(|h| 1_704_067_200 + 3600 * h).collect();
    header(
        vec![
            dim("valid_time", 24, false),
            dim("pressure_level", levels.len(), false),
            dim("latitude", 721, false),
            dim("longitude", 1440, false),
        ],
        vec![
            text("GRIB_centre", "ecmf"),
            text(
                "GRIB_centreDescription",
                "European Centre for Medium-Range Weather Forecasts",
            ),
            i64a("GRIB_subCentre", 0),
            text("Conventions", "CF-1.7"),
            text(
                "institution",
                "European Centre for Medium-Range Weather Forecasts",
            ),
            text(
                "history",
                "2024-05-14T09:31 GRIB to CDM+CF via cfgrib-0.9.10.4/ecCodes-2.34.1 with \
                 {\"source\": \"data.grib\", \"filter_by_keys\": {\"stream\": [\"oper\"], \
                 \"stepType\": [\"instant\"]}, \"encode_cf\": [\"parameter\", \"time\", \
                 \"geography\", \"vertical\"]}",
            ),
        ],
        vec![
            aux(
                "number",
                &[],
                DType::I64,
                vec![
                    text("long_name", "ensemble member numerical id"),
                    text("units", "1"),
                    text("standard_name", "realization"),
                ],
                CoordData::I64(vec![0]),
            ),
            aux(
                "valid_time",
                &["valid_time"],
                DType::I64,
                vec![
                    text("long_name", "time"),
                    text("standard_name", "time"),
                    text("units", "seconds since 1970-01-01"),
                    text("calendar", "proleptic_gregorian"),
                ],
                CoordData::I64(times),
            ),
            aux(
                "pressure_level",
                &["pressure_level"],
                DType::F64,
                vec![
                    text("long_name", "pressure"),
                    text("units", "hPa"),
                    text("positive", "down"),
                    text("stored_direction", "decreasing"),
                    text("standard_name", "air_pressure"),
                ],
                CoordData::F64(levels.to_vec()),
            ),
            lat,
            lon,
            aux(
                "expver",
                &["valid_time"],
                DType::Char,
                vec![text("long_name", "experiment version")],
                CoordData::Text(b"0001".repeat(24)),
            ),
        ],
        "t",
        &["valid_time", "pressure_level", "latitude", "longitude"],
        Some("pressure_level"),
        DType::F32,
        {
            let mut a = grib_attrs(
                130,
                "t",
                "K",
                "Temperature",
                "air_temperature",
                "an",
                "isobaricInhPa",
                (721, 1440),
                0.25,
            );
            a.push(text(
                "coordinates",
                "number valid_time pressure_level latitude longitude expver",
            ));
            a
        },
        Shape::new(24, levels.len(), 721, 1440),
        Bound::Nrmse(1e-4),
        193.5,
        312.25,
    )
}

/// ERA5 single levels from the CDS before 2024 (NetCDF-3, packed int16).
fn era5_cds_legacy() -> Vec<u8> {
    let [mut lat, mut lon] = lat_lon(181, 360, 1.0, true);
    lat.attrs = vec![
        text("units", "degrees_north"),
        text("long_name", "latitude"),
    ];
    lon.attrs = vec![
        text("units", "degrees_east"),
        text("long_name", "longitude"),
    ];
    let times: Vec<i32> = (0..31).map(|d| 1_043_136 + 24 * d).collect();
    header(
        vec![
            dim("longitude", 360, false),
            dim("latitude", 181, false),
            dim("time", 31, true),
        ],
        vec![
            text("Conventions", "CF-1.6"),
            text(
                "history",
                "2021-03-02 14:05:45 GMT by grib_to_netcdf-2.16.0: /opt/ecmwf/eccodes/bin/\
                 grib_to_netcdf -S param -o /cache/data5/adaptor.mars.internal-1614693945.\
                 2783806-29301-11-4f6e2c1a-5d41-4b7e-9d1c-8e2b0f3a6c55.nc /cache/tmp/\
                 4f6e2c1a-5d41-4b7e-9d1c-8e2b0f3a6c55-adaptor.mars.internal-1614693944.\
                 4851432-29301-20-tmp.grib",
            ),
        ],
        vec![
            lon,
            lat,
            aux(
                "time",
                &["time"],
                DType::I32,
                vec![
                    text("units", "hours since 1900-01-01 00:00:00.0"),
                    text("long_name", "time"),
                    text("calendar", "gregorian"),
                ],
                CoordData::I32(times),
            ),
        ],
        "t2m",
        &["time", "latitude", "longitude"],
        None,
        DType::I16,
        vec![
            f64a("scale_factor", &[0.0017282171921529543]),
            f64a("add_offset", &[258.0396354195837]),
            i16a("_FillValue", -32767),
            i16a("missing_value", -32767),
            text("units", "K"),
            text("long_name", "2 metre temperature"),
        ],
        Shape::new(31, 1, 181, 360),
        Bound::MaxAbs(0.05),
        201.4,
        314.7,
    )
}

/// GFS pressure levels read with cfgrib and saved by xarray.
fn gfs_cfgrib() -> Vec<u8> {
    let levels: Vec<f64> = vec![
        1000.0, 975.0, 950.0, 925.0, 900.0, 850.0, 800.0, 750.0, 700.0, 650.0, 600.0, 550.0, 500.0,
        450.0, 400.0, 350.0, 300.0, 250.0, 200.0, 150.0, 100.0, 70.0, 50.0, 30.0, 20.0, 10.0,
    ];
    let [lat, lon] = lat_lon(361, 720, 0.5, false);
    header(
        vec![
            dim("isobaricInhPa", levels.len(), false),
            dim("latitude", 361, false),
            dim("longitude", 720, false),
        ],
        vec![
            text("GRIB_edition", "2"),
            text("GRIB_centre", "kwbc"),
            text(
                "GRIB_centreDescription",
                "US National Weather Service - NCEP",
            ),
            i64a("GRIB_subCentre", 0),
            text("Conventions", "CF-1.7"),
            text("institution", "US National Weather Service - NCEP"),
            text(
                "history",
                "2023-11-20T06:12 GRIB to CDM+CF via cfgrib-0.9.10.4/ecCodes-2.31.0 with \
                 {\"source\": \"gfs.t00z.pgrb2.0p50.f024\", \"filter_by_keys\": \
                 {\"typeOfLevel\": \"isobaricInhPa\"}, \"encode_cf\": [\"parameter\", \
                 \"time\", \"geography\", \"vertical\"]}",
            ),
        ],
        vec![
            aux(
                "time",
                &[],
                DType::I64,
                vec![
                    text("long_name", "initial time of forecast"),
                    text("standard_name", "forecast_reference_time"),
                    text("units", "seconds since 1970-01-01T00:00:00"),
                    text("calendar", "proleptic_gregorian"),
                ],
                CoordData::I64(vec![1_700_438_400]),
            ),
            aux(
                "step",
                &[],
                DType::I64,
                vec![
                    text("long_name", "time since forecast_reference_time"),
                    text("standard_name", "forecast_period"),
                    text("units", "hours"),
                ],
                CoordData::I64(vec![24]),
            ),
            aux(
                "isobaricInhPa",
                &["isobaricInhPa"],
                DType::F64,
                vec![
                    text("long_name", "pressure"),
                    text("units", "hPa"),
                    text("positive", "down"),
                    text("stored_direction", "decreasing"),
                    text("standard_name", "air_pressure"),
                ],
                CoordData::F64(levels.clone()),
            ),
            lat,
            lon,
            aux(
                "valid_time",
                &[],
                DType::I64,
                vec![
                    text("standard_name", "time"),
                    text("long_name", "time"),
                    text("units", "seconds since 1970-01-01T00:00:00"),
                    text("calendar", "proleptic_gregorian"),
                ],
                CoordData::I64(vec![1_700_524_800]),
            ),
        ],
        "gh",
        &["isobaricInhPa", "latitude", "longitude"],
        Some("isobaricInhPa"),
        DType::F32,
        {
            let mut a = grib_attrs(
                156,
                "gh",
                "gpm",
                "Geopotential height",
                "geopotential_height",
                "fc",
                "isobaricInhPa",
                (361, 720),
                0.5,
            );
            a.push(text(
                "coordinates",
                "time step isobaricInhPa latitude longitude valid_time",
            ));
            a
        },
        Shape::new(1, levels.len(), 361, 720),
        Bound::Nrmse(1e-3),
        -447.8,
        31352.6,
    )
}

/// The NCEP/NCAR reanalysis as NOAA PSL distributes it.
fn ncep_psl() -> Vec<u8> {
    let mut lat = aux(
        "lat",
        &["lat"],
        DType::F32,
        vec![
            text("units", "degrees_north"),
            f32a("actual_range", &[90.0, -90.0]),
            text("long_name", "Latitude"),
            text("standard_name", "latitude"),
            text("axis", "Y"),
        ],
        CoordData::F32((0..73).map(|i| 90.0 - 2.5 * i as f32).collect()),
    );
    lat.dims = vec!["lat".into()];
    let lon = aux(
        "lon",
        &["lon"],
        DType::F32,
        vec![
            text("units", "degrees_east"),
            text("long_name", "Longitude"),
            f32a("actual_range", &[0.0, 357.5]),
            text("standard_name", "longitude"),
            text("axis", "X"),
        ],
        CoordData::F32((0..144).map(|i| 2.5 * i as f32).collect()),
    );
    header(
        vec![
            dim("time", 1460, true),
            dim("level", 1, false),
            dim("lat", 73, false),
            dim("lon", 144, false),
        ],
        vec![
            text("Conventions", "COARDS"),
            text("title", "4x daily NMC reanalysis (2020)"),
            text(
                "description",
                "Data is from NMC initialized reanalysis\n(4x/day).  It consists of most \
                 variables interpolated to pressure surfaces from model (sigma) surfaces.",
            ),
            text("platform", "Model"),
            text(
                "history",
                "created 2020/01/03 by Hoop (netCDF2.3)\nConverted to chunked, deflated \
                 non-packed NetCDF4 2020/01",
            ),
            text(
                "References",
                "http://www.psl.noaa.gov/data/gridded/data.ncep.reanalysis.html",
            ),
            text("dataset_title", "NCEP-NCAR Reanalysis 1"),
        ],
        vec![
            aux(
                "level",
                &["level"],
                DType::F32,
                vec![
                    text("units", "millibar"),
                    f32a("actual_range", &[500.0, 500.0]),
                    text("long_name", "Level"),
                    text("positive", "down"),
                    text("GRIB_id", "100"),
                    text("GRIB_name", "hPa"),
                    text("axis", "Z"),
                ],
                CoordData::F32(vec![500.0]),
            ),
            lat,
            lon,
            aux(
                "time",
                &["time"],
                DType::F64,
                vec![
                    text("long_name", "Time"),
                    f64a("delta_t", &[0.0]),
                    text("standard_name", "time"),
                    text("axis", "T"),
                    text("units", "hours since 1800-01-01 00:00:0.0"),
                    f64a("actual_range", &[1_840_536.0, 1_849_290.0]),
                ],
                CoordData::F64((0..1460).map(|i| 1_840_536.0 + 6.0 * i as f64).collect()),
            ),
        ],
        "hgt",
        &["time", "level", "lat", "lon"],
        Some("level"),
        DType::F32,
        vec![
            text("long_name", "4xDaily Geopotential height"),
            text("units", "m"),
            i16a("precision", 0),
            i16a("least_significant_digit", 0),
            i16a("GRIB_id", 7),
            text("GRIB_name", "HGT"),
            text("var_desc", "Geopotential height"),
            text("level_desc", "Multiple levels"),
            text("statistic", "Individual Obs"),
            text("parent_stat", "Other"),
            f32a("actual_range", &[4820.0, 6010.0]),
            text("dataset", "NCEP Reanalysis"),
            f32a("missing_value", &[-9.96921e36]),
        ],
        Shape::new(1460, 1, 73, 144),
        Bound::Nrmse(1e-2),
        4820.0,
        6010.0,
    )
}

/// A CMIP6 daily near-surface temperature file.
fn cmip6() -> Vec<u8> {
    let [lat, lon] = lat_lon(144, 192, 1.25, false);
    header(
        vec![
            dim("time", 365, true),
            dim("bnds", 2, false),
            dim("lat", 144, false),
            dim("lon", 192, false),
        ],
        vec![
            text("Conventions", "CF-1.7 CMIP-6.2"),
            text("activity_id", "CMIP"),
            text("branch_method", "standard"),
            text("creation_date", "2019-06-19T11:52:14Z"),
            text("data_specs_version", "01.00.29"),
            text("experiment", "all-forcing simulation of the recent past"),
            text("experiment_id", "historical"),
            text("frequency", "day"),
            text(
                "further_info_url",
                "https://furtherinfo.es-doc.org/CMIP6.MOHC.historical.none.r1i1p1f3",
            ),
            text("grid", "Native N96 grid; 192 x 144 longitude/latitude"),
            text("grid_label", "gn"),
            text(
                "institution",
                "Met Office Hadley Centre, Fitzroy Road, Exeter, Devon, EX1 3PB, UK",
            ),
            text("institution_id", "MOHC"),
            text(
                "license",
                "CMIP6 model data produced by the Met Office Hadley Centre is licensed under a \
                 Creative Commons Attribution-ShareAlike 4.0 International License \
                 (https://creativecommons.org/licenses). Consult \
                 https://pcmdi.llnl.gov/CMIP6/TermsOfUse for terms of use governing CMIP6 \
                 output, including citation requirements and proper acknowledgment. The data \
                 producers and data providers make no warranty, either express or implied, \
                 including, but not limited to, warranties of merchantability and fitness for \
                 a particular purpose.",
            ),
            text("mip_era", "CMIP6"),
            text("nominal_resolution", "250 km"),
            text("realm", "atmos"),
            text("source_id", "UKESM1-0-LL"),
            text("source_type", "AOGCM AER BGC CHEM"),
            text("table_id", "day"),
            text(
                "tracking_id",
                "hdl:21.14100/0a2e9c3d-6b1f-4a8e-9f3c-2d7b5e1a4c60",
            ),
            text("variable_id", "tas"),
            text("variant_label", "r1i1p1f2"),
        ],
        vec![
            aux(
                "time",
                &["time"],
                DType::F64,
                vec![
                    text("bounds", "time_bnds"),
                    text("units", "days since 1850-01-01"),
                    text("calendar", "360_day"),
                    text("axis", "T"),
                    text("long_name", "time"),
                    text("standard_name", "time"),
                ],
                CoordData::F64((0..365).map(|d| 59_400.5 + d as f64).collect()),
            ),
            lat,
            lon,
            aux(
                "height",
                &[],
                DType::F64,
                vec![
                    text("units", "m"),
                    text("axis", "Z"),
                    text("positive", "up"),
                    text("long_name", "height"),
                    text("standard_name", "height"),
                ],
                CoordData::F64(vec![1.5]),
            ),
        ],
        "tas",
        &["time", "lat", "lon"],
        None,
        DType::F32,
        vec![
            text("standard_name", "air_temperature"),
            text("long_name", "Near-Surface Air Temperature"),
            text("comment", "near-surface (usually, 2 meter) air temperature"),
            text("units", "K"),
            text("cell_methods", "area: time: mean"),
            text("cell_measures", "area: areacella"),
            text(
                "history",
                "2019-06-19T11:52:14Z altered by CMOR: Treated scalar dimension: 'height'.",
            ),
            f32a("missing_value", &[1e20]),
            f32a("_FillValue", &[1e20]),
        ],
        Shape::new(365, 1, 144, 192),
        Bound::MaxAbs(0.01),
        212.7,
        318.9,
    )
}

/// Words of provenance, licence and description text, and hiha's codec
/// configuration keys.
const WORDS: &str = "\
Created with xarray, netCDF4, cfgrib, CDO, NCO, wgrib2, eccodes, grib_to_netcdf, ncks, ncrcat. \
Converted from GRIB to NetCDF; a subset of the global field, regridded to a regular \
latitude-longitude grid, interpolated from model levels to pressure levels. Data source: ECMWF \
ERA5 hourly data on pressure levels from 1940 to present; ERA5 hourly data on single levels; \
ERA-Interim; NCEP GFS 0.25 degree global forecast; NCEP/NCAR Reanalysis; 20th Century \
Reanalysis; MERRA-2; JRA-55; CMIP6; CORDEX. Analysis, forecast, reanalysis, ensemble members, \
control and perturbed forecasts, valid time, initial time, lead time in hours, 00 06 12 18 UTC. \
GRIB1, GRIB2, NetCDF-3 classic, 64-bit offset, NetCDF-4, HDF5, Zarr; simple packing, complex \
packing and spatial differencing, CCSDS, JPEG2000, 16-bit packing, scaled int16, float32, \
float64. Licence: Contains modified Copernicus Climate Change Service information 2024; Neither \
the European Commission nor ECMWF is responsible for any use that may be made of the Copernicus \
information or data it contains. Creative Commons Attribution 4.0 International (CC BY 4.0). \
Public domain data of NOAA. \
temperature, geopotential, geopotential height, specific humidity, relative humidity, eastward \
and northward wind, vertical velocity, vorticity, divergence, mean sea level pressure, surface \
pressure, total precipitation, total cloud cover, 2 metre temperature, 10 metre wind, dewpoint, \
sea surface temperature, ozone mass mixing ratio, cloud liquid water content.\n\
predictor = \"none\"\nchunk_frames = 1\nvalue_min = \nvalue_max = \nconstant = false\n";

/// The primer of header coding 2, as `primer2.bin` holds it.
pub(super) fn primer_2() -> Vec<u8> {
    let mut out = super::primer::PRIMER.as_bytes().to_vec();
    out.extend_from_slice(WORDS.as_bytes());
    for h in [
        cmip6(),
        ncep_psl(),
        era5_cds_legacy(),
        gfs_cfgrib(),
        era5_cds(),
    ] {
        out.extend_from_slice(&h);
    }
    out
}
