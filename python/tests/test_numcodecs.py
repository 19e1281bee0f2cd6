"""The numcodecs codec: entry point, config round trip, chunk semantics."""

from __future__ import annotations

import json
import subprocess
import sys

import numcodecs
import numpy as np
import pytest
from conftest import check_bound

import hiha
from hiha.numcodecs import CONFIG_VERSION, HiHa


def test_found_through_the_entry_point_in_a_fresh_interpreter():
    code = (
        "import numcodecs, sys; c = numcodecs.get_codec({'id': 'hiha', 'nrmse': 1e-4}); "
        "print(type(c).__module__, type(c).__name__, c.get_config()['nrmse']); "
        "assert 'hiha' in sys.modules"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["hiha.numcodecs", "HiHa", "0.0001"]


@pytest.mark.parametrize(
    "config",
    [
        {"id": "hiha", "nrmse": 1e-4},
        {"id": "hiha", "rmse": 0.5, "chunk_frames": 2},
        {"id": "hiha", "max_abs": 0.01},
        {"id": "hiha", "max_rel": 1e-3},
    ],
)
def test_config_round_trips_and_carries_a_version(config):
    codec = numcodecs.get_codec(dict(config))
    got = codec.get_config()
    assert got["version"] == CONFIG_VERSION
    assert {k: v for k, v in got.items() if k != "version"} == config
    # Through JSON, as Zarr stores it.
    again = numcodecs.get_codec(json.loads(json.dumps(got)))
    assert again == codec and again.get_config() == got
    assert HiHa.from_config(got) == codec


def test_bad_configs_are_value_errors():
    with pytest.raises(ValueError, match="version 99"):
        numcodecs.get_codec({"id": "hiha", "nrmse": 1e-4, "version": 99})
    with pytest.raises(ValueError, match="exactly one bound"):
        HiHa(nrmse=1e-4, max_abs=1.0)
    with pytest.raises(ValueError, match="nrmse must be a finite number above 0"):
        HiHa(nrmse=-1.0)
    with pytest.raises(TypeError):
        HiHa(nrmse=1e-4, zstd_level=3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_encode_decode_with_and_without_out(field, dtype):
    codec = HiHa(max_abs=0.02)
    a = field[0].astype(dtype)
    enc = codec.encode(a)
    back = codec.decode(enc)
    check_bound(a, back, "max_abs", 0.02)
    out = np.empty_like(a)
    codec.decode(np.frombuffer(enc, np.uint8), out=out)
    assert np.array_equal(out, back)


def test_a_bytes_buffer_is_refused_with_a_clear_error():
    with pytest.raises(TypeError, match="numpy array"):
        HiHa(nrmse=1e-3).encode(b"\x00" * 64)


def test_damaged_chunk_raises(field):
    codec = HiHa(nrmse=1e-3)
    enc = bytearray(codec.encode(field[0]))
    enc[len(enc) // 3] ^= 0x10
    with pytest.raises(hiha.CorruptArchiveError, match="checksum|corrupt"):
        codec.decode(bytes(enc))
    with pytest.raises(hiha.UnsupportedArchiveError, match="version 0.0"):
        codec.decode(b"\x89HIHA\r\n\x1a" + b"\x00" * 40)
