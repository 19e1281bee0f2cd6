"""Zarr stores: v2 (compressor and filter, C and F order) and v3 (native
serializer), written and read back through zarr-python 3, the bound checked
on every element; the per-chunk and per-array guarantees."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import zarr
from conftest import check_bound

from hiha.numcodecs import HiHa
from hiha.zarr3 import HiHaCodec

MODES = [("nrmse", 1e-4), ("rmse", 0.02), ("max_abs", 0.05), ("max_rel", 1e-3)]
CHUNKS = (3, 2, 2, 31, 60)


def with_nan(field: np.ndarray) -> np.ndarray:
    a = field.copy()
    a[0, 0, 0, :5, :7] = np.nan
    return a


def chunk_views(a: np.ndarray, chunks: tuple[int, ...]):
    idx = np.ndindex(*[-(-n // c) for n, c in zip(a.shape, chunks)])
    for i in idx:
        yield a[tuple(slice(k * c, (k + 1) * c) for k, c in zip(i, chunks))]


def check_per_chunk(a, back, kind, value, chunks):
    for ca, cb in zip(chunk_views(a, chunks), chunk_views(back, chunks)):
        check_bound(ca, cb, kind, value)


@pytest.mark.parametrize("kind,value", MODES)
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("role", ["compressor", "filter"])
def test_zarr_v2_store_round_trip(tmp_path, field, kind, value, order, role):
    a = with_nan(field)
    codec = HiHa(**{kind: value})
    args = {"compressors": codec} if role == "compressor" else {"filters": [codec]}
    z = zarr.create_array(
        str(tmp_path / "a.zarr"), shape=a.shape, chunks=CHUNKS, dtype="f4",
        zarr_format=2, order=order, fill_value=np.nan, **args,
    )
    z[:] = a
    back = zarr.open_array(str(tmp_path / "a.zarr"), mode="r")
    meta = back.metadata
    got = meta.compressor if role == "compressor" else meta.filters[0]
    assert got.get_config() == codec.get_config()
    b = back[:]
    # Every chunk within its own bound, and the relevant whole-array bound.
    check_per_chunk(a, b, kind, value, CHUNKS)
    if kind in ("rmse", "max_abs"):
        check_bound(a, b, kind, value)


@pytest.mark.parametrize("kind,value", MODES)
@pytest.mark.parametrize("dtype", ["f4", "f8"])
def test_zarr_v3_store_round_trip_in_a_fresh_process(tmp_path, field, kind, value, dtype):
    a = with_nan(field).astype(dtype)
    path = str(tmp_path / "a.zarr")
    z = zarr.create_array(
        path, shape=a.shape, chunks=CHUNKS, dtype=dtype, fill_value=np.nan,
        serializer=HiHaCodec(**{kind: value}), compressors=None,
    )
    z[:] = a
    np.save(tmp_path / "orig.npy", a)
    # A fresh interpreter that never imports hiha: zarr finds the codec
    # through the "zarr.codecs" entry point.
    code = (
        "import sys, numpy as np, zarr; z = zarr.open_array(sys.argv[1], mode='r'); "
        "print(z.metadata.codecs[0].to_dict()['name']); np.save(sys.argv[2], z[:])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, path, str(tmp_path / "back.npy")],
        capture_output=True, text=True, check=True,
    )
    assert out.stdout.strip() == "hiha"
    b = np.load(tmp_path / "back.npy")
    assert b.dtype == a.dtype
    check_per_chunk(a, b, kind, value, CHUNKS)
    if kind in ("rmse", "max_abs"):
        check_bound(a, b, kind, value)


def test_v3_codec_dict_round_trip_and_dtype_check():
    c = HiHaCodec(rmse=0.5, chunk_frames=2)
    d = c.to_dict()
    assert d == {"name": "hiha", "configuration": {"version": 1, "rmse": 0.5, "chunk_frames": 2}}
    assert HiHaCodec.from_dict(d) == c
    with pytest.raises(ValueError, match="float32 and float64"):
        zarr.create_array({}, shape=(4, 4), dtype="i4", serializer=c, compressors=None)


def test_nrmse_per_chunk_implies_it_over_the_array(field):
    """Each chunk's range is at most the array's: per-chunk NRMSE bounds
    the array's NRMSE (conservatively). Edge chunks are padded with the fill
    value, which must be NaN for this (a finite fill counts in the range)."""
    a = field
    z = zarr.create_array({}, shape=a.shape, chunks=CHUNKS, dtype="f4", fill_value=np.nan,
                          serializer=HiHaCodec(nrmse=1e-3), compressors=None)
    z[:] = a
    back = z[:]
    check_bound(a, back, "nrmse", 1e-3)
    check_per_chunk(a, back, "nrmse", 1e-3, CHUNKS)
