//! The texts the header models learn before coding a header. They are
//! part of the format: changing one is a format change (the golden files
//! catch it).

/// Text the model learns before coding a header (format v1).
pub const PRIMER: &str = "\
units long_name standard_name _FillValue missing_value scale_factor add_offset \
axis calendar positive Conventions CF-1.6 CF-1.7 CF-1.8 history institution source \
references comment title GRIB_paramId GRIB_shortName GRIB_units GRIB_name GRIB_cfName \
GRIB_cfVarName GRIB_dataType GRIB_numberOfPoints GRIB_typeOfLevel GRIB_stepUnits \
GRIB_stepType GRIB_gridType GRIB_NV GRIB_Nx GRIB_Ny GRIB_iDirectionIncrementInDegrees \
GRIB_jDirectionIncrementInDegrees GRIB_latitudeOfFirstGridPointInDegrees \
GRIB_longitudeOfFirstGridPointInDegrees GRIB_latitudeOfLastGridPointInDegrees \
GRIB_longitudeOfLastGridPointInDegrees GRIB_jPointsAreConsecutive \
GRIB_jScansPositively GRIB_iScansNegatively GRIB_missingValue GRIB_totalNumber \
GRIB_edition GRIB_centre GRIB_centreDescription GRIB_subCentre ecmf \
European Centre for Medium-Range Weather Forecasts \
time level latitude longitude lat lon number step valid_time isobaricInhPa \
pressure_level plev hours since 1900-01-01 00:00:00.0 gregorian proleptic_gregorian \
degrees_north degrees_east millibars hPa Pa K m s**-1 m**2 s**-2 kg kg**-1 \
air_temperature geopotential specific_humidity eastward_wind northward_wind \
relative_humidity geopotential_height Temperature Geopotential Specific humidity \
U component of wind V component of wind Relative humidity Geopotential height \
2 metre temperature surface air_pressure ensemble_member \
regular_ll isobaricInhPa Copernicus Climate Change Service ERA5 ERA-Interim NCEP GFS \
netCDF4 xarray cfgrib CDI CDO ncks nco Created by 2019-03-01 2020-01-01 2017-01-01 \
an fc pl sfc reanalysis analysis forecast hiha decompressed";

/// What header coding 2 ([`super::mixing`]) learns first (format 2.4):
/// [`PRIMER`], words of provenance and licence text, then typical headers
/// of ERA5, GFS, NCEP/NCAR reanalysis and CMIP6 files in the raw header
/// layout (made by `corpus.rs`, frozen in `primer2.bin`).
pub const PRIMER_2: &[u8] = include_bytes!("primer2.bin");
