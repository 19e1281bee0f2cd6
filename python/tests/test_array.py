"""hiha.encode / hiha.decode on numpy arrays: every mode and dtype, 1-D to
5-D, C and F order, NaN and infinities, errors."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from conftest import check_bound

import hiha

MODES = [("nrmse", 1e-4), ("rmse", 0.02), ("max_abs", 0.05), ("max_rel", 1e-3)]


def shaped(field: np.ndarray, ndim: int) -> np.ndarray:
    """Real data with `ndim` dims (lat/lon last)."""
    f = field
    return {
        1: f[0, 0, 0, 10],  # one latitude row
        2: f[0, 0, 0],
        3: f[0, 0],
        4: f[0],
        5: f,
    }[ndim]


@pytest.mark.parametrize("kind,value", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ndim", [1, 2, 3, 4, 5])
def test_round_trip_within_bound_on_every_element(field, kind, value, dtype, ndim):
    a = shaped(field, ndim).astype(dtype)
    if dtype == np.float64:
        # Values float32 cannot hold exactly: the bound must hold against these.
        a = a + np.linspace(0, 1e-5, a.size).reshape(a.shape)
    blob = hiha.encode(a, **{kind: value})
    assert isinstance(blob, bytes)
    back = hiha.decode(blob)
    assert back.dtype == dtype and back.shape == a.shape
    check_bound(a, back, kind, value)
    # Lossy for real: the coded archive is smaller than the float32 input.
    assert len(blob) < a.size * 4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fortran_order_comes_back_in_fortran_order(field, dtype):
    a = np.asfortranarray(field[0].astype(dtype))
    back = hiha.decode(hiha.encode(a, max_abs=0.05))
    assert back.flags.f_contiguous and not back.flags.c_contiguous
    check_bound(a, back, "max_abs", 0.05)
    # A non-contiguous view works too (C order back).
    v = field[:, ::2, :, ::3, ::2]
    check_bound(v, hiha.decode(hiha.encode(v, rmse=0.01)), "rmse", 0.01)


def test_big_endian_input(field):
    a = field[0].astype(">f4")
    check_bound(a, hiha.decode(hiha.encode(a, max_abs=0.1)), "max_abs", 0.1)


@pytest.mark.parametrize("kind,value", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_infinities_come_back_exactly_where_they_were(field, kind, value, dtype):
    a = field[:2].astype(dtype).copy()
    rng = np.random.default_rng(7)
    mask = rng.random(a.shape) < 0.05
    mask[0, 0, 0, :10, :] = True  # a block, as land or below ground
    a[mask] = np.nan
    a[1, 1, 1, 5, 5] = np.inf
    a[1, 1, 1, 5, 6] = -np.inf
    back = hiha.decode(hiha.encode(a, **{kind: value}))
    check_bound(a, back, kind, value)
    assert np.array_equal(np.isnan(back), np.isnan(a))


def test_nan_payloads_of_float32_are_kept_bit_for_bit(field):
    a = field[0, 0].copy()
    bits = a.view(np.uint32)
    bits[0, 3, 4] = 0x7FC0_0123
    bits[1, 7, 8] = 0xFFC0_0000  # negative quiet NaN
    back = hiha.decode(hiha.encode(a, nrmse=1e-3))
    assert back.view(np.uint32)[0, 3, 4] == 0x7FC0_0123
    assert back.view(np.uint32)[1, 7, 8] == 0xFFC0_0000


def test_all_nan_and_constant_arrays():
    nan = np.full((3, 4, 5), np.nan, np.float32)
    assert np.isnan(hiha.decode(hiha.encode(nan, nrmse=1e-3))).all()
    # A constant is coded exactly; float64 ones exactly when float32 holds them.
    c = np.full((2, 8, 9), 273.25, np.float64)
    assert np.array_equal(hiha.decode(hiha.encode(c, max_rel=1e-3)), c)
    with pytest.raises(ValueError, match="finer than float32"):
        hiha.encode(np.full((4, 4), 273.15, np.float64), max_rel=1e-3)
    c = np.full((4, 4), 273.15, np.float64)
    check_bound(c, hiha.decode(hiha.encode(c, max_abs=1e-4)), "max_abs", 1e-4)


def test_float64_bound_finer_than_float32_is_a_value_error():
    a = 1e6 + np.random.default_rng(1).random((16, 16))  # float32 step at 1e6: 0.0625
    with pytest.raises(ValueError, match="finer than float32"):
        hiha.encode(a, max_abs=1e-3)
    # A bound above the rounding holds against the float64 values.
    check_bound(a, hiha.decode(hiha.encode(a, max_abs=0.1)), "max_abs", 0.1)


def test_bad_parameters_are_value_errors_with_the_core_message(field):
    a = field[0, 0]
    with pytest.raises(ValueError, match="exactly one bound"):
        hiha.encode(a)
    with pytest.raises(ValueError, match="exactly one bound"):
        hiha.encode(a, nrmse=1e-3, max_abs=1.0)
    with pytest.raises(ValueError, match="nrmse must be a finite number above 0"):
        hiha.encode(a, nrmse=0.0)
    with pytest.raises(ValueError, match="relative to the value range"):
        hiha.encode(a, max_rel=2.0)
    with pytest.raises(ValueError, match="rmse must be a finite number above 0"):
        hiha.encode(a, rmse=float("nan"))
    with pytest.raises(ValueError, match="empty"):
        hiha.encode(np.zeros((0, 4), np.float32), nrmse=1e-3)
    with pytest.raises(ValueError, match="outside float32's range"):
        hiha.encode(np.array([1.0, 1e300]), max_abs=1.0)
    with pytest.raises(ValueError, match="0-d"):
        hiha.encode(np.float32(3.0), max_abs=1.0)
    with pytest.raises(ValueError, match="chunk_frames"):
        hiha.encode(a, nrmse=1e-3, chunk_frames=0)
    with pytest.raises(TypeError, match="float32 and float64"):
        hiha.encode(np.arange(10), max_abs=1.0)


def test_damaged_bytes_raise_corrupt_archive_error_never_anything_else(field):
    blob = hiha.encode(field[0], nrmse=1e-4)
    assert issubclass(hiha.CorruptArchiveError, ValueError)
    with pytest.raises(hiha.CorruptArchiveError, match="bad magic"):
        hiha.decode(b"not an archive at all")
    with pytest.raises(hiha.CorruptArchiveError, match="truncated"):
        hiha.decode(blob[: len(blob) // 2])
    with pytest.raises(hiha.CorruptArchiveError):
        hiha.decode(b"")
    # Flip one bit at many places (header, payloads, index, footer): every
    # archive byte is covered by a checksum or a constant.
    rng = np.random.default_rng(3)
    for pos in sorted(set(rng.integers(0, len(blob), 200).tolist()) | {0, 9, 20, len(blob) - 1}):
        bad = bytearray(blob)
        bad[pos] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises((hiha.CorruptArchiveError, hiha.UnsupportedArchiveError)) as e:
            hiha.decode(bytes(bad))
        assert str(e.value), "the exception carries the core's message"
    # A section rewritten with a valid CRC is caught by the value hash.
    with pytest.raises(hiha.CorruptArchiveError, match="checksum|hash|corrupt"):
        bad = bytearray(blob)
        bad[len(blob) // 2] ^= 0xFF
        hiha.decode(bytes(bad))


def test_decode_accepts_buffers_and_frame_ranges(field):
    blob = hiha.encode(field, max_abs=0.05, chunk_frames=4)
    full = hiha.decode(blob)
    for buf in (bytearray(blob), memoryview(blob), np.frombuffer(blob, np.uint8)):
        assert np.array_equal(hiha.decode(buf), full)
    # 5-D: frames are number x time (40); frames 8..16 are members 2 and 3.
    part = hiha.decode(blob, frames=(8, 16))
    assert np.array_equal(part, full[2:4])
    with pytest.raises(ValueError):
        hiha.decode(blob, frames=(5, 5))


def test_header_describes_without_decoding(field):
    blob = hiha.encode(field[0], rmse=0.01)
    h = hiha.header(blob)
    assert h["shape"] == (4, 2, 61, 120)
    assert h["bound"] == ("rmse", 0.01)
    # Writers write the oldest minor version that holds the archive: one
    # variable with a plain bound needs only what its chunks' codings need
    # (the wavelet coder's primed models, 2.3) and its header (two levels:
    # coarse per-level ranges, 2.4, or 2.6 delta coded), and 2.5 where a
    # wavelet band is all zero (the zero map).
    assert h["version"] in ((2, 4), (2, 5), (2, 6))
    assert h["version"] <= hiha.FORMAT_VERSION
    assert [n for n, _, _ in h["dims"]] == ["dim_0", "dim_1", "dim_2", "dim_3"]
    assert h["var"]["level_dim"] == "dim_1" and h["var"]["frame_dims"] == 1


def test_coding_releases_the_gil(field):
    """While one thread encodes, another runs Python code: the codec does not
    hold the GIL."""
    a = np.tile(field, (4, 1, 1, 1, 1))  # 2.3 Mi values
    window: list[float] = []

    def work():
        t0 = time.perf_counter()
        hiha.decode(hiha.encode(a, nrmse=1e-5))
        window.extend([t0, time.perf_counter()])

    ticks = []
    t = threading.Thread(target=work)
    t.start()
    while t.is_alive():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    t.join()
    t0, t1 = window
    mid = [x for x in ticks if t0 + 0.25 * (t1 - t0) < x < t1 - 0.25 * (t1 - t0)]
    assert t1 - t0 > 0.05
    assert len(mid) >= 5, f"main thread ran {len(mid)} times during {t1 - t0:.2f} s of coding"


def test_tune_malloc_takes_on_glibc_and_changes_no_byte():
    import platform

    rng = np.random.default_rng(7)
    x = np.cumsum(rng.standard_normal((6, 40, 50)), axis=2).astype(np.float32)
    before = hiha.encode(x, nrmse=1e-3)
    took = hiha.tune_malloc()
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert took is True
    else:
        assert took is False
    assert hiha.encode(x, nrmse=1e-3) == before
    np.testing.assert_array_equal(hiha.decode(before), hiha.decode(hiha.encode(x, nrmse=1e-3)))
