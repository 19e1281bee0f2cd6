# Makes gfs_t_pl2_2p5deg_global_cdf1.nc (NetCDF-3 classic CDF-1, unlimited time,
# levels 1000 and 500 hPa) from the GFS sample. Run from the repository root with
# a Python that has netCDF4 and numpy.
import netCDF4

src = netCDF4.Dataset('data/samples/gfs_t_pl26_2p5deg_global_2011101100_f072.nc')
src.set_auto_maskandscale(False)
levels = [0, 12]  # 1000 and 500 hPa
dst = netCDF4.Dataset('data/samples/gfs_t_pl2_2p5deg_global_cdf1.nc', 'w', format='NETCDF3_CLASSIC')
for k in src.ncattrs():
    dst.setncattr(k, src.getncattr(k))
dst.title = 'gfs_t_pl2_2p5deg_global_cdf1'
dst.history = src.history + '\nCDF-1 test copy for hiha-io: levels 1000 and 500 hPa, time unlimited.'
dst.createDimension('time', None)
dst.createDimension('level', 2)
dst.createDimension('latitude', 73)
dst.createDimension('longitude', 144)
for name in ['time', 'level', 'latitude', 'longitude', 't']:
    v = src[name]
    o = dst.createVariable(name, v.dtype, v.dimensions)
    for k in v.ncattrs():
        o.setncattr(k, v.getncattr(k))
    o.set_auto_maskandscale(False)
    if name == 'level':
        o[:] = v[levels]
    elif name == 't':
        o[:] = v[:, levels]
    else:
        o[:] = v[:]
dst.close()
