"""xarray integration.

- ``xr.open_dataset("x.hiha", engine="hiha")`` (backend entry point
  :class:`HiHaBackendEntrypoint`): opens lazily with the original dims,
  coordinates and attributes; indexing reads from disk only the sections of
  the frames selected (``hiha.io_stats()`` counts).
- :func:`to_hiha`: writes one variable of a Dataset (or a DataArray) as a
  ``.hiha`` archive, with its coordinates and attributes.
- :func:`zarr_encoding`: the ``encoding=`` dict for ``ds.to_zarr`` that codes
  every float variable with hiha, turning a whole-variable NRMSE into the
  per-chunk absolute RMSE that guarantees it whatever the chunking.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import numpy as np
import xarray as xr
from xarray.backends import BackendArray, BackendEntrypoint
from xarray.core import indexing

import hiha
from hiha import _hiha

_ORDER_ATTR = "_hiha_memory_order"

#: Attributes that describe the on-disk encoding of the source's values
#: (the archive holds the unpacked values, missing ones as NaN): the backend
#: moves them into ``encoding`` so that xarray does not apply them twice and
#: ``to_netcdf`` writes the variable back packed as it was.
_ENCODING_ATTRS = (
    "scale_factor",
    "add_offset",
    "_FillValue",
    "missing_value",
    "valid_range",
    "valid_min",
    "valid_max",
    "_Unsigned",
)

_NUMPY_OF = {
    "i8": np.int8,
    "u8": np.uint8,
    "i16": np.int16,
    "u16": np.uint16,
    "i32": np.int32,
    "u32": np.uint32,
    "i64": np.int64,
    "u64": np.uint64,
    "f32": np.float32,
    "f64": np.float64,
    "char": np.dtype("S1"),
}

# ------------------------------------------------------------------ reading


def _attr_from_archive(v: Any) -> Any:
    if isinstance(v, np.ndarray) and v.size == 1:
        return v[0]
    return v


def _attrs_from_archive(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    return {k: _attr_from_archive(v) for k, v in items}


def _aux_variable(aux: dict[str, Any], lens: dict[str, int]) -> xr.Variable | None:
    """A coordinate (or other auxiliary variable) of the header; ``None``, with
    a warning, when its dims do not describe its values."""
    data = aux["data"]
    data = np.frombuffer(data, dtype="S1") if isinstance(data, bytes) else np.asarray(data)
    dims = list(aux["dims"])
    shape = [lens.get(d) for d in dims]
    if len(dims) == 1 and shape[0] is None:
        shape = [data.size]  # a dim only this variable has
    if None in shape or int(np.prod(shape, dtype=np.int64)) != data.size:
        warnings.warn(
            f"auxiliary variable {aux['name']!r}: {data.size} values do not fit its dims "
            f"{dims}; left out",
            stacklevel=3,
        )
        return None
    return xr.Variable(dims, data.reshape(shape), _attrs_from_archive(aux["attrs"]))


class HiHaArray(BackendArray):
    """The compressed variable of an archive, decoded on indexing: only the
    frames the key selects along the first frame dim are read and decoded."""

    def __init__(self, path: str, header: dict[str, Any]) -> None:
        self.path = path
        var = header["var"]
        lens = {name: n for name, n, _ in header["dims"]}
        self.shape = tuple(lens[d] for d in var["dims"])
        self.dtype = np.dtype(np.float64 if var["dtype"] == "f64" else np.float32)
        self.frame_dims = int(var["frame_dims"])
        self._file: hiha.ArchiveFile | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Picklable for Dask: each process opens the file itself.
        state = dict(self.__dict__)
        state["_file"] = None
        return state

    @property
    def file(self) -> hiha.ArchiveFile:
        if self._file is None:
            self._file = hiha.ArchiveFile(self.path)
        return self._file

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.BASIC, self._raw_indexing_method
        )

    def _raw_indexing_method(self, key: tuple[Any, ...]) -> np.ndarray:
        if self.frame_dims == 0:
            return np.asarray(self.file.read(None)[key])
        first, rest = key[0], key[1:]
        n0 = self.shape[0]
        inner = int(np.prod(self.shape[1 : self.frame_dims], dtype=np.int64))
        if isinstance(first, slice):
            picked = range(*first.indices(n0))
            if len(picked) == 0:
                shape = np.empty(self.shape, dtype=bool)[key].shape
                return np.empty(shape, dtype=self.dtype)
            i0, i1 = min(picked), max(picked) + 1
            if picked.step > 0:
                local: Any = slice(picked.start - i0, picked.stop - i0, picked.step)
            else:
                local = np.arange(picked.start, picked.stop, picked.step) - i0
        else:
            i = int(first)
            i = i + n0 if i < 0 else i
            i0, i1, local = i, i + 1, 0
        block = self.file.read((i0 * inner, i1 * inner))
        return np.asarray(block[(local, *rest)])


def _is_hiha(path: Any) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == b"\x89HIHA\r\n\x1a"
    except (OSError, TypeError):
        return False


class HiHaBackendEntrypoint(BackendEntrypoint):
    """Opens ``.hiha`` archives: ``xr.open_dataset(path, engine="hiha")``."""

    description = "Open hiha (.hiha) error-bounded archives lazily"
    url = "https://github.com/hiha/hiha/blob/main/docs/python.md"
    open_dataset_parameters = (
        "filename_or_obj",
        "drop_variables",
        "mask_and_scale",
        "decode_times",
        "decode_timedelta",
        "use_cftime",
        "decode_coords",
    )

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        if isinstance(filename_or_obj, (str, os.PathLike)):
            p = os.fspath(filename_or_obj)
            return p.endswith(".hiha") or _is_hiha(p)
        return False

    def open_dataset(  # type: ignore[override]
        self,
        filename_or_obj: Any,
        *,
        drop_variables: str | Iterable[str] | None = None,
        mask_and_scale: bool = True,
        decode_times: bool = True,
        decode_timedelta: bool | None = None,
        use_cftime: bool | None = None,
        decode_coords: bool = True,
    ) -> xr.Dataset:
        if not isinstance(filename_or_obj, (str, os.PathLike)):
            raise TypeError("the hiha backend opens files by path")
        path = os.fspath(filename_or_obj)
        f = hiha.ArchiveFile(path)
        h = f.header()
        lens = {name: n for name, n, _ in h["dims"]}
        variables: dict[str, xr.Variable] = {}
        for aux in h["aux_vars"]:
            v = _aux_variable(aux, lens)
            if v is not None:
                variables[aux["name"]] = v
        var = h["var"]
        attrs = _attrs_from_archive(var["attrs"])
        attrs.pop(_ORDER_ATTR, None)
        encoding: dict[str, Any] = {
            k: attrs.pop(k) for k in _ENCODING_ATTRS if k in attrs
        }
        encoding["dtype"] = np.dtype(_NUMPY_OF.get(var["dtype"], np.float32))
        encoding["source"] = path
        arr = HiHaArray(path, h)
        arr._file = f
        chunks = {b - a for a, b in h["chunks"]}
        inner = int(np.prod(arr.shape[1 : arr.frame_dims], dtype=np.int64))
        if arr.frame_dims >= 1 and len(chunks) >= 1:
            c = max(chunks)
            if c % inner == 0:
                encoding["preferred_chunks"] = {var["dims"][0]: c // inner}
        variables[var["name"]] = xr.Variable(
            var["dims"], indexing.LazilyIndexedArray(arr), attrs, encoding
        )
        ds = xr.Dataset(variables, attrs=_attrs_from_archive(h["global_attrs"]))
        ds = xr.decode_cf(
            ds,
            mask_and_scale=mask_and_scale,
            decode_times=decode_times,
            decode_timedelta=decode_timedelta,
            use_cftime=use_cftime,
            decode_coords=decode_coords,
            drop_variables=drop_variables,
        )
        ds.encoding["source"] = path
        return ds


# ------------------------------------------------------------------ writing

_LEVEL_NAMES = {
    "level",
    "levels",
    "plev",
    "isobaricinhpa",
    "isobaricinpa",
    "pressure",
    "lev",
    "levelist",
    "pressure_level",
    "pressure_levels",
    "height",
    "depth",
    "altitude",
    "model_level_number",
    "hybrid",
    "sigma",
}
_LEVEL_UNITS = {"hpa", "pa", "mbar", "millibar", "millibars", "mb", "kpa", "bar"}


def _is_level(name: Hashable, coord: xr.DataArray | None) -> bool:
    """The vertical-axis test of hiha-io (crates/hiha-io/src/cf.rs)."""
    if str(name).lower() in _LEVEL_NAMES:
        return True
    if coord is None:
        return False
    a = coord.attrs
    return (
        str(a.get("units", "")).lower() in _LEVEL_UNITS
        or str(a.get("standard_name", "")).lower() == "air_pressure"
        or str(a.get("axis", "")).lower() == "z"
        or "positive" in a
    )


def _attr_to_archive(name: str, v: Any) -> Any:
    if isinstance(v, str):
        return v
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    a = np.asarray(v)
    if a.dtype == bool:
        a = a.astype(np.int8)
    if a.dtype.kind not in "iuf":
        raise ValueError(
            f"attribute {name!r} of type {type(v).__name__} cannot be stored: use a str "
            "or numbers"
        )
    if a.dtype.kind == "f" and a.dtype.itemsize not in (4, 8):
        a = a.astype(np.float64)
    return np.ascontiguousarray(a.reshape(-1).astype(a.dtype.newbyteorder("=")))


def _attrs_to_archive(attrs: Mapping[Any, Any]) -> list[tuple[str, Any]]:
    return [(str(k), _attr_to_archive(str(k), v)) for k, v in attrs.items()]


_COORD_TYPES = {
    np.dtype(np.float64): "f64",
    np.dtype(np.float32): "f32",
    np.dtype(np.int64): "i64",
    np.dtype(np.int32): "i32",
    np.dtype(np.int16): "i16",
    np.dtype(np.int8): "i8",
    np.dtype(np.uint8): "u8",
}


def _coord_to_archive(name: str, var: xr.Variable) -> dict[str, Any] | None:
    enc = xr.conventions.encode_cf_variable(var, name=name)
    data = np.asarray(enc.values)
    if data.dtype == bool:
        data = data.astype(np.uint8)
    elif data.dtype.kind == "u" and data.dtype.itemsize in (2, 4):
        data = data.astype(np.int64)
    elif data.dtype.kind == "f" and data.dtype.itemsize == 2:
        data = data.astype(np.float32)
    data = data.astype(data.dtype.newbyteorder("="))
    kind = _COORD_TYPES.get(data.dtype)
    if kind is None:
        warnings.warn(
            f"coordinate {name!r} of dtype {data.dtype} is not stored in the archive",
            stacklevel=3,
        )
        return None
    return {
        "name": name,
        "dims": [str(d) for d in enc.dims],
        "dtype": kind,
        "attrs": _attrs_to_archive(enc.attrs),
        "data": np.ascontiguousarray(data).reshape(-1),
    }


def _pick_variable(obj: xr.Dataset | xr.DataArray, var: str | None) -> tuple[xr.Dataset, str]:
    if isinstance(obj, xr.DataArray):
        name = str(obj.name) if obj.name is not None else "data"
        return obj.to_dataset(name=name), name
    if var is not None:
        if var not in obj.data_vars:
            raise ValueError(f"no data variable {var!r} (have {list(obj.data_vars)})")
        return obj, var
    names = [str(n) for n, v in obj.data_vars.items() if v.dtype.kind == "f"]
    if len(names) != 1:
        raise ValueError(
            "a .hiha archive holds one variable: pass var= (float variables: "
            f"{names}), or write one archive per variable"
        )
    return obj, names[0]


def _meta(ds: xr.Dataset, name: str) -> dict[str, Any]:
    da = ds[name]
    dims = [str(d) for d in da.dims]
    nd = len(dims)
    if nd == 0:
        raise ValueError(f"variable {name!r} is a scalar")
    coords = {str(k): v for k, v in ds.coords.items()}
    if nd == 1:
        frame_dims, level, lat = 0, None, ""
    elif nd == 2:
        frame_dims, level, lat = 0, None, dims[0]
    else:
        level = dims[-3] if _is_level(dims[-3], coords.get(dims[-3])) else None
        frame_dims = nd - 2 - (1 if level else 0)
        lat = dims[-2]
    aux = []
    # Dim coordinates in the variable's dim order first, then the others.
    order = [d for d in dims if d in coords] + [c for c in coords if c not in dims]
    for cname in order:
        c = coords[cname]
        if set(c.dims) <= set(da.dims):
            entry = _coord_to_archive(str(cname), c.variable)
            if entry is not None:
                aux.append(entry)
    return {
        "dims": [(d, int(ds.sizes[d]), False) for d in dims],
        "global_attrs": _attrs_to_archive(ds.attrs),
        "aux_vars": aux,
        "var": {
            "name": name,
            "dims": dims,
            "frame_dims": frame_dims,
            "level_dim": level,
            "lat_dim": lat,
            "lon_dim": dims[-1],
            "dtype": "f64" if da.dtype == np.float64 else "f32",
            "attrs": _attrs_to_archive(da.attrs),
        },
    }


def to_hiha(
    obj: xr.Dataset | xr.DataArray,
    path: str | os.PathLike[str],
    *,
    nrmse: float | None = None,
    rmse: float | None = None,
    max_abs: float | None = None,
    max_rel: float | None = None,
    var: str | None = None,
    chunk_frames: int | None = None,
) -> int:
    """Writes one float variable (``var``, or the Dataset's only float data
    variable, or the DataArray) with its coordinates and attributes as a
    ``.hiha`` archive at ``path``; returns the archive's size in bytes.

    Dims: the last two are lat and lon; the third-last is the level when it
    looks like a vertical axis (name, units or ``axis="Z"``, as in the CLI);
    the leading ones are frames, which ``open_dataset(...).isel(...)`` reads
    selectively. ``chunk_frames`` sets the frames per independently decodable
    chunk (default: about 4 Mi values per chunk). The bound (exactly one of
    ``nrmse``, ``rmse``, ``max_abs``, ``max_rel``) holds over the whole
    variable and is verified on every element before the file is written.
    """
    kind, value = hiha.bound_from(nrmse, rmse, max_abs, max_rel)
    ds, name = _pick_variable(obj, var)
    da = ds[name]
    if da.dtype.kind != "f":
        raise TypeError(f"variable {name!r} has dtype {da.dtype}: hiha codes float variables")
    meta = _meta(ds, name)
    values, _ = hiha.as_input(np.asarray(da.values))
    data = _hiha.encode(values, kind, value, chunk_frames, meta)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix=f".{os.path.basename(path)}.hiha-partial-"
    )
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return len(data)


# --------------------------------------------------------------------- zarr


def _default_zarr_format() -> int:
    import zarr

    if int(zarr.__version__.split(".")[0]) < 3:
        return 2
    return int(zarr.config.get("default_zarr_format", 3))


def _ranges(ds: xr.Dataset, names: list[str]) -> dict[str, float]:
    """max - min over valid values of each variable, computed together (with
    Dask where the variables are chunked)."""
    lazy = []
    for n in names:
        da = ds[n]
        lazy.append(da.max(skipna=True))
        lazy.append(da.min(skipna=True))
    if any(x.chunks is not None for x in lazy):
        import dask

        computed = dask.compute(*[x.data for x in lazy])
    else:
        computed = [x.values for x in lazy]
    out = {}
    for i, n in enumerate(names):
        hi, lo = float(computed[2 * i]), float(computed[2 * i + 1])
        out[n] = hi - lo if np.isfinite(hi - lo) else 0.0
    return out


def _per_var(value: float | Mapping[str, float] | None, names: list[str]) -> dict[str, float]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        unknown = set(value) - set(names)
        if unknown:
            raise ValueError(f"no float data variables {sorted(unknown)} (have {names})")
        return {str(k): float(v) for k, v in value.items()}
    return {n: float(value) for n in names}


def zarr_encoding(
    ds: xr.Dataset,
    *,
    nrmse: float | Mapping[str, float] | None = None,
    rmse: float | Mapping[str, float] | None = None,
    max_abs: float | Mapping[str, float] | None = None,
    max_rel: float | Mapping[str, float] | None = None,
    zarr_format: int | None = None,
    chunk_frames: int | None = None,
) -> dict[str, dict[str, Any]]:
    """The ``encoding=`` for ``ds.to_zarr(store, encoding=...)`` that codes
    the float data variables with hiha so that the bound holds over **each
    whole variable, whatever the chunking**.

    Exactly one bound, a number for every float data variable or a dict
    ``{name: value}`` for some of them (the others keep their encoding):

    - ``nrmse=t``: RMSE / (max - min) of each whole variable <= t. Each
      variable's global range R is computed (with Dask when chunked) and every
      chunk is coded to an absolute RMSE of t * R; the RMSE over the whole
      variable is then at most t * R as well, since it is a mean of the
      chunks' mean squared errors.
    - ``rmse=e``: absolute RMSE per chunk, so per variable.
    - ``max_abs=e``: every element within e (per element).
    - ``max_rel=r``: every element within r * R (R the variable's global range).

    ``zarr_format`` (2 or 3; default: what ``to_zarr`` will write) selects a
    Zarr v2 ``compressors`` entry (numcodecs :class:`hiha.numcodecs.HiHa`) or
    a Zarr v3 ``serializer`` (:class:`hiha.zarr3.HiHaCodec`).
    """
    hiha.bound_from(  # exactly one kind (values checked per variable below)
        *(None if v is None else 1e-3 for v in (nrmse, rmse, max_abs, max_rel))
    )
    names = [str(n) for n, v in ds.data_vars.items() if v.dtype.kind == "f"]
    kind, per = next(
        (k, _per_var(v, names))
        for k, v in zip(hiha.BOUND_KINDS, (nrmse, rmse, max_abs, max_rel))
        if v is not None
    )
    fmt = _default_zarr_format() if zarr_format is None else int(zarr_format)
    if fmt not in (2, 3):
        raise ValueError(f"zarr_format must be 2 or 3, got {zarr_format}")
    ranges = _ranges(ds, list(per)) if kind in ("nrmse", "max_rel") else {}
    encoding: dict[str, dict[str, Any]] = {}
    for n, v in per.items():
        if kind == "nrmse":
            hiha.bound_from(nrmse=v)
            k, e = "rmse", v * ranges[n] if ranges[n] > 0 else v
        elif kind == "max_rel":
            hiha.bound_from(max_rel=v)
            k, e = "max_abs", v * ranges[n] if ranges[n] > 0 else v
        else:
            k, e = kind, v
        if fmt == 3:
            from hiha.zarr3 import HiHaCodec

            encoding[n] = {
                "serializer": HiHaCodec(**{k: e}, chunk_frames=chunk_frames),
                "compressors": None,
                "filters": None,
            }
        else:
            from hiha.numcodecs import HiHa

            codec = HiHa(**{k: e}, chunk_frames=chunk_frames)
            import zarr

            if int(zarr.__version__.split(".")[0]) < 3:
                encoding[n] = {"compressor": codec, "filters": None}
            else:
                encoding[n] = {"compressors": [codec], "filters": None}
    return encoding
