"""The bound grammar of the CLI (`MODE:VALUE[:per-level]`) in Python:
parse_bound, encode(bound=...), pw-rel and per-level bounds checked on every
element, the codecs' bound= configs, and clear errors."""

from __future__ import annotations

import json

import numcodecs
import numpy as np
import pytest
import xarray as xr
from conftest import check_bound

import hiha
import hiha.xarray as hx
from hiha.numcodecs import HiHa
from hiha.zarr3 import HiHaCodec


def test_parse_bound_speaks_the_cli_grammar():
    assert hiha.parse_bound("max-abs:0.1") == hiha.Bound("max-abs", 0.1, False, "max-abs:0.1")
    assert hiha.parse_bound(" MAX_ABS : 0.5 ").spec == "max-abs:0.5"
    assert hiha.parse_bound("nrmse:1e-4") == ("nrmse", 1e-4, False, "nrmse:0.0001")
    assert hiha.parse_bound("rmse:2").mode == "rmse"
    assert hiha.parse_bound("max-rel:1e-3").value == 1e-3
    assert hiha.parse_bound("pw_rel:0.01") == ("pw-rel", 0.01, False, "pw-rel:0.01")
    b = hiha.parse_bound("nrmse:1e-3:per-level")
    assert b.per_level and b.mode == "nrmse" and b.spec == "nrmse:0.001:per-level"
    assert hiha.parse_bound(b.spec) == b
    for bad, msg in [
        ("nrmse", "not MODE:VALUE"),
        ("psnr:40", "unknown mode 'psnr'"),
        ("nrmse:x", "not a number"),
        ("nrmse:2", "below 1"),
        ("max-abs:-1", "max-abs must be a finite number above 0"),
        ("max-abs:1:per-level", "per-level"),
    ]:
        with pytest.raises(ValueError, match=msg):
            hiha.parse_bound(bad)
    with pytest.raises(TypeError):
        hiha.parse_bound(0.1)  # type: ignore[arg-type]


def test_bound_string_and_keyword_give_the_same_archive(field):
    a = field[0]
    assert hiha.encode(a, bound="max-abs:0.1") == hiha.encode(a, max_abs=0.1)
    assert hiha.encode(a, bound="nrmse:1e-4") == hiha.encode(a, nrmse=1e-4)
    assert hiha.header(hiha.encode(a, bound="rmse:0.02"))["bound_spec"] == "rmse:0.02"
    with pytest.raises(ValueError, match="exactly one bound"):
        hiha.encode(a, bound="max-abs:0.1", max_abs=0.1)
    with pytest.raises(ValueError, match="unknown mode"):
        hiha.encode(a, bound="psnr:40")


def test_pointwise_relative_bound_on_every_element(field):
    # Anomalies: positive, negative and exact zeros.
    a = (field[0] - np.float32(250.0)).astype(np.float32)
    a[0, 0, :5] = 0.0
    r = 1e-3
    back = hiha.decode(hiha.encode(a, bound=f"pw-rel:{r}"))
    assert back.dtype == np.float32 and back.shape == a.shape
    x, y = a.astype(np.float64), back.astype(np.float64)
    assert (np.abs(x - y) <= r * np.abs(x)).all()
    assert (y[x == 0] == 0).all() and (np.sign(x) == np.sign(y)).all()
    assert hiha.header(hiha.encode(a, bound=f"pw-rel:{r}"))["version"] in ((2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (2, 6))


def test_keep_zeros_flag_of_the_grammar(field):
    b = hiha.parse_bound("nrmse:1e-3:keep-zeros")
    assert b.mode == "nrmse" and b.spec == "nrmse:0.001:keep-zeros"
    assert hiha.parse_bound(b.spec) == b
    # Anomalies with exact zeros: asked for, every zero comes back exactly
    # zero and no value changes sign; the bound holds on every element.
    a = (field[0] - np.float32(250.0)).astype(np.float32)
    a[np.abs(a) < 3.0] = 0.0
    back = hiha.decode(hiha.encode(a, bound="nrmse:1e-3:keep-zeros"))
    check_bound(a, back, "nrmse", 1e-3)
    x, y = a.astype(np.float64), back.astype(np.float64)
    assert (y[x == 0] == 0).all()
    assert (np.sign(x) == np.sign(y)).all()
    # Without the flag (and under half zeros) zeros are not kept exactly.
    plain = hiha.decode(hiha.encode(a, bound="nrmse:1e-3"))
    assert (plain[a == 0] != 0).any()


@pytest.mark.parametrize("mode", ["nrmse:1e-3:per-level", "max-rel:1e-3:per-level"])
def test_per_level_bounds_hold_on_every_level(field, mode):
    a = field[0].copy()  # time x level x lat x lon
    a[:, 1] = a[:, 1] * 0.01  # a level with a far smaller range
    b = hiha.parse_bound(mode)
    back = hiha.decode(hiha.encode(a, bound=mode))
    for lev in range(a.shape[1]):
        kind = "nrmse" if b.mode == "nrmse" else "max_rel"
        check_bound(a[:, lev], back[:, lev], kind, b.value)


def test_float64_refuses_pointwise_relative_and_per_level_bounds_clearly(field):
    a = field[0].astype(np.float64)
    for mode in ("pw-rel:1e-3", "nrmse:1e-3:per-level"):
        with pytest.raises(ValueError, match="float32"):
            hiha.encode(a, bound=mode)


@pytest.mark.parametrize(
    "bound", ["pw-rel:0.001", "nrmse:0.001:per-level", "max-abs:0.05"]
)
def test_codecs_take_bound_strings_and_keep_them_in_their_config(field, bound):
    codec = HiHa(bound=bound)
    got = codec.get_config()
    assert got["bound"] == bound and got["version"] == 1
    again = numcodecs.get_codec(json.loads(json.dumps(got)))
    assert again == codec
    a = field[0] - np.float32(250.0)
    back = again.decode(again.encode(a))
    assert back.shape == a.shape
    if bound.startswith("max-abs"):
        check_bound(a, back, "max_abs", 0.05)
    v3 = HiHaCodec(bound=bound)
    assert HiHaCodec.from_dict(v3.to_dict()) == v3
    assert v3.to_dict()["configuration"]["bound"] == bound


def test_zarr_encoding_takes_bound_strings(tmp_path, era5):
    ds = era5.copy()
    ds["u"] = era5["t"] - era5["t"].mean("longitude")
    ds = ds.chunk({"number": 5, "time": 2})
    enc = hx.zarr_encoding(ds, bound="nrmse:1e-4", bounds={"u": "pw-rel:1e-3"})
    # nrmse over the whole variable becomes the per-chunk RMSE budget;
    # pw-rel is per element, so it goes to every chunk as it is.
    rng = float(era5["t"].max() - era5["t"].min())
    assert enc["t"]["serializer"].kind == "rmse"
    assert enc["t"]["serializer"].value == pytest.approx(1e-4 * rng)
    assert enc["u"]["serializer"].to_dict()["configuration"]["bound"] == "pw-rel:0.001"
    ds.to_zarr(tmp_path / "s.zarr", encoding=enc)
    back = xr.open_zarr(tmp_path / "s.zarr")
    check_bound(ds["t"].values, back["t"].values, "nrmse", 1e-4)
    x, y = ds["u"].values.astype(np.float64), back["u"].values.astype(np.float64)
    assert (np.abs(x - y) <= 1e-3 * np.abs(x)).all()
    with pytest.raises(ValueError, match="per-level"):
        hx.zarr_encoding(ds, bound="nrmse:1e-3:per-level")
    with pytest.raises(ValueError, match="not among the variables"):
        hx.zarr_encoding(ds, bound=["nrmse:1e-4", "q=max-abs:1"])
    # Variables without a bound keep their encoding.
    assert set(hx.zarr_encoding(ds, bounds={"u": "max-abs:0.1"})) == {"u"}
