"""A NetCDF-4 file laid out like today's CDS ERA5 downloads, built from the
bundled real ERA5 sample, and the check of its round trip through hiha.

usage: cds_like.py make SAMPLE OUT.nc
       cds_like.py check IN.nc BACK.nc VAR=MODE:VALUE ...   (exit 0 when it holds)

The file has what the new CDS NetCDF-4 files have: dims valid_time,
pressure_level, latitude, longitude; an `expver` variable-length string
variable; a scalar int64 `number`; int64 valid_time; zlib compression; int16
packing with _FillValue and some filled points. Variables:
  t    member 0 of the ERA5 ensemble sample (real values), 4 times x 2 levels
  q    saturation specific humidity computed from t and p (kg/kg: values
       from 1e-5 to 1e-2, never negative), a humidity-like field
  t2m  t at 850 hPa as a 2-D (valid_time, latitude, longitude) field
"""
import sys

import netCDF4
import numpy as np
import xarray as xr


def pack(v, data, fill=-32767):
    lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
    scale = (hi - lo) / (2**16 - 3)
    offset = lo + 32766 * scale
    v.set_auto_maskandscale(True)
    v.setncattr("scale_factor", np.float64(scale))
    v.setncattr("add_offset", np.float64(offset))
    v[:] = np.ma.masked_invalid(data)


def make(sample, out):
    src = netCDF4.Dataset(sample)
    t = np.asarray(src["t"][0], dtype=np.float64)  # time, level, lat, lon
    lev = np.asarray(src["level"][:], dtype=np.float64)
    lat = np.asarray(src["latitude"][:])
    lon = np.asarray(src["longitude"][:])
    hours = np.asarray(src["time"][:])
    nt, nl = t.shape[:2]
    # Saturation specific humidity (Bolton 1980), from the real temperatures.
    tc = t - 273.15
    es = 6.112 * np.exp(17.67 * tc / (tc + 243.5))
    p = lev[None, :, None, None]
    q = 0.622 * es / (p - 0.378 * es)
    t2m = t[:, list(lev).index(850.0)] if 850.0 in lev else t[:, -1]
    # Missing points, as masked oceans or failed retrievals would give.
    t = t.copy()
    t[0, 0, 10:13, 20:25] = np.nan
    t2m = t2m.copy()
    t2m[1, 30:33, 40:44] = np.nan

    d = netCDF4.Dataset(out, "w", format="NETCDF4")
    d.setncattr("GRIB_centre", "ecmf")
    d.setncattr("GRIB_centreDescription", "European Centre for Medium-Range Weather Forecasts")
    d.setncattr("Conventions", "CF-1.7")
    d.setncattr("institution", "European Centre for Medium-Range Weather Forecasts")
    d.setncattr("history", "2026-11-30T10:00 GRIB to CDM+CF via cfgrib-0.9.15.0/ecCodes-2.41.0 with {\"source\": \"tmp.grib\", \"filter_by_keys\": {}, \"encode_cf\": [\"parameter\", \"time\", \"geography\", \"vertical\"]}")
    d.createDimension("valid_time", nt)
    d.createDimension("pressure_level", nl)
    d.createDimension("latitude", len(lat))
    d.createDimension("longitude", len(lon))
    num = d.createVariable("number", "i8")
    num.long_name = "ensemble member numerical id"
    num.units = "1"
    num.standard_name = "realization"
    num.assignValue(0)
    vt = d.createVariable("valid_time", "i8", ("valid_time",))
    vt.long_name = "time"
    vt.standard_name = "time"
    vt.units = "seconds since 1970-01-01"
    vt.calendar = "proleptic_gregorian"
    vt[:] = ((hours - 613608) * 3600).astype(np.int64)  # hours since 1900 -> unix
    pl = d.createVariable("pressure_level", "f8", ("pressure_level",))
    pl.long_name = "pressure"
    pl.units = "hPa"
    pl.positive = "down"
    pl.stored_direction = "decreasing"
    pl.standard_name = "air_pressure"
    pl[:] = lev
    la = d.createVariable("latitude", "f8", ("latitude",))
    la.units = "degrees_north"
    la.standard_name = "latitude"
    la.long_name = "latitude"
    la.stored_direction = "decreasing"
    la[:] = lat
    lo = d.createVariable("longitude", "f8", ("longitude",))
    lo.units = "degrees_east"
    lo.standard_name = "longitude"
    lo.long_name = "longitude"
    lo[:] = lon
    ex = d.createVariable("expver", str, ("valid_time",))
    ex.long_name = "Experiment version"
    for i in range(nt):
        ex[i] = "0001"
    dims4 = ("valid_time", "pressure_level", "latitude", "longitude")
    for name, data, dims, units, long_name, pid in [
        ("t", t, dims4, "K", "Temperature", 130),
        ("q", q, dims4, "kg kg**-1", "Specific humidity", 133),
        ("t2m", t2m, ("valid_time", "latitude", "longitude"), "K", "2 metre temperature", 167),
    ]:
        v = d.createVariable(name, "i2", dims, zlib=True, complevel=1, shuffle=True, fill_value=np.int16(-32767))
        v.GRIB_paramId = np.int64(pid)
        v.GRIB_shortName = name
        v.GRIB_units = units
        v.GRIB_gridType = "regular_ll"
        v.units = units
        v.long_name = long_name
        v.coordinates = "number valid_time latitude longitude expver" + (" pressure_level" if len(dims) == 4 else "")
        pack(v, data)
    d.close()


def check(inp, back, bounds):
    a = xr.open_dataset(inp)
    b = xr.open_dataset(back)
    assert set(a.variables) == set(b.variables), (sorted(a.variables), sorted(b.variables))
    assert set(a.data_vars) == set(b.data_vars), (sorted(a.data_vars), sorted(b.data_vars))
    assert dict(a.sizes) == dict(b.sizes), (dict(a.sizes), dict(b.sizes))
    for c in a.coords:
        assert np.array_equal(a[c].values, b[c].values), c
    assert a["expver"].values.tolist() == b["expver"].values.tolist(), (a["expver"].values, b["expver"].values)
    assert int(b["number"].values) == 0 and b["number"].dtype == np.int64
    for k, v in a.attrs.items():
        if k != "history":
            assert b.attrs.get(k) == v, k
    for name, spec in bounds.items():
        mode, value = spec.split(":")
        value = float(value)
        x = a[name].values.astype(np.float64)
        y = b[name].values.astype(np.float64)
        assert x.shape == y.shape, name
        miss = np.isnan(x)
        assert np.array_equal(miss, np.isnan(y)), f"{name}: missing points moved"
        assert miss.any() or name == "q", f"{name}: the test file should have missing points"
        e = np.abs(x[~miss] - y[~miss])
        rng = x[~miss].max() - x[~miss].min()
        if mode == "nrmse":
            got = np.sqrt(np.mean(e**2)) / rng
        elif mode == "max-abs":
            got = e.max()
        elif mode == "max-rel":
            got = e.max() / rng
        else:
            raise SystemExit(f"unknown mode {mode}")
        # xarray unpacks in float32 for int16 data: allow its rounding.
        slack = 2 * np.finfo(np.float32).eps * np.abs(x[~miss]).max() / (rng if mode != "max-abs" else 1)
        assert got <= value * (1 + 1e-6) + slack, f"{name}: {mode} {got} > {value}"
        for k, v in a[name].attrs.items():
            if k not in ("scale_factor", "add_offset", "_FillValue", "missing_value"):
                assert b[name].attrs.get(k) == v, (name, k)
        print(f"{name}: {mode} {got:.3e} <= {value:.3e}")
    print("ok")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3])
    else:
        check(sys.argv[2], sys.argv[3], dict(b.split("=", 1) for b in sys.argv[4:]))
