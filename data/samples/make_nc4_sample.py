# Makes gfs_t_pl6_2p5deg_global_nc4_packed.nc (NetCDF-4, int16 packed, zlib) from the GFS sample.
# Run from the repository root with a Python that has netCDF4 and numpy.
import netCDF4, numpy as np
src = netCDF4.Dataset('data/samples/gfs_t_pl26_2p5deg_global_2011101100_f072.nc')
src.set_auto_mask(False); src.set_auto_scale(False)
t = src['t'][:, :6]  # first 6 levels (1000..850 hPa)
dst = netCDF4.Dataset('data/samples/gfs_t_pl6_2p5deg_global_nc4_packed.nc', 'w', format='NETCDF4')
for k in src.ncattrs():
    dst.setncattr(k, src.getncattr(k))
dst.title = 'gfs_t_pl6_2p5deg_global_nc4_packed'
dst.history = src.history + '\nNetCDF-4 test copy for hiha-io: first 6 levels, int16 scale/offset packing, zlib, latitudes south to north, a block set to _FillValue.'
dst.createDimension('time', None)
dst.createDimension('level', 6)
dst.createDimension('latitude', 73)
dst.createDimension('longitude', 144)
for name, dims, data in [('time', ('time',), src['time'][:]), ('level', ('level',), src['level'][:6]),
                         ('latitude', ('latitude',), src['latitude'][::-1]), ('longitude', ('longitude',), src['longitude'][:])]:
    v = dst.createVariable(name, 'f8', dims)
    for k in src[name].ncattrs():
        v.setncattr(k, src[name].getncattr(k))
    v[:] = data
v = dst.createVariable('t', 'i2', ('time', 'level', 'latitude', 'longitude'), zlib=True, complevel=4, shuffle=True, fill_value=np.int16(-32767))
for k in src['t'].ncattrs():
    v.setncattr(k, src['t'].getncattr(k))
scale, offset = 0.01, 250.0
v.scale_factor = np.float64(scale); v.add_offset = np.float64(offset)
v.set_auto_maskandscale(False)
packed = np.round((t[:, :, ::-1, :].astype(np.float64) - offset) / scale).astype(np.int16)
packed[0, 2, 10:14, 20:30] = -32767
v[:] = packed
dst.close()
