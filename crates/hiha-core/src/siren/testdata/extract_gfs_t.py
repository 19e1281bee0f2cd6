#!/usr/bin/env python3
"""Extract one 73x144 pressure level of the GFS temperature sample as raw
little-endian f32 (lat-major, north to south as stored), using only the
standard library (a minimal NetCDF-3 classic/64-bit-offset reader).

Source: NCEP GFS (public domain), file gfs_t_pl26_2p5deg_global_2011101100_f072.nc
Usage:  python3 extract_gfs_t.py SRC.nc LEVEL_INDEX OUT.f32
"""
import struct
import sys

NC_TYPES = {1: ("b", 1), 2: ("c", 1), 3: ("h", 2), 4: ("i", 4), 5: ("f", 4), 6: ("d", 8)}


def main():
    src, level, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    buf = open(src, "rb").read()
    assert buf[:3] == b"CDF", "not NetCDF-3"
    off64 = buf[3] == 2
    pos = 4

    def u32():
        nonlocal pos
        v = struct.unpack(">I", buf[pos:pos + 4])[0]
        pos += 4
        return v

    def name():
        nonlocal pos
        n = u32()
        s = buf[pos:pos + n].decode()
        pos += (n + 3) & ~3
        return s

    def attrs():
        nonlocal pos
        tag, n = u32(), u32()
        res = {}
        for _ in range(n):
            k = name()
            t, cnt = u32(), u32()
            code, size = NC_TYPES[t]
            raw = buf[pos:pos + cnt * size]
            pos += (cnt * size + 3) & ~3
            res[k] = raw if code == "c" else struct.unpack(">%d%s" % (cnt, code), raw)
        return res

    u32()  # numrecs
    tag, ndims = u32(), u32()
    dims = []
    for _ in range(ndims):
        dims.append((name(), u32()))
    attrs()
    tag, nvars = u32(), u32()
    variables = {}
    for _ in range(nvars):
        vname = name()
        nd = u32()
        dimids = [u32() for _ in range(nd)]
        vatts = attrs()
        t, vsize = u32(), u32()
        if off64:
            begin = struct.unpack(">Q", buf[pos:pos + 8])[0]
            pos += 8
        else:
            begin = u32()
        variables[vname] = (dimids, vatts, t, begin)
    dimids, vatts, t, begin = variables["t"]
    shape = [dims[d][1] for d in dimids]
    print("t shape", [dims[d][0] for d in dimids], shape, file=sys.stderr)
    ny, nx = shape[-2], shape[-1]
    code, size = NC_TYPES[t]
    plane = ny * nx
    # the level axis is the one before (lat, lon); leading axes (time) index 0
    start = begin + level * plane * size
    vals = struct.unpack(">%d%s" % (plane, code), buf[start:start + plane * size])
    scale = vatts.get("scale_factor", (1.0,))[0]
    add = vatts.get("add_offset", (0.0,))[0]
    vals = [v * scale + add for v in vals]
    print("level", level, "min", min(vals), "max", max(vals), file=sys.stderr)
    with open(out, "wb") as f:
        f.write(struct.pack("<%df" % plane, *vals))


if __name__ == "__main__":
    main()
