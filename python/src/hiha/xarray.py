"""xarray integration.

- ``xr.open_dataset("x.hiha", engine="hiha")`` (backend entry point
  :class:`HiHaBackendEntrypoint`): opens lazily with the original dims,
  coordinates and attributes; indexing reads from disk only the sections of
  the frames selected (``hiha.io_stats()`` counts).
- :func:`to_hiha`: writes a DataArray, or the float variables of a Dataset,
  as one ``.hiha`` archive (several variables: a multi-variable archive),
  with coordinates and attributes; bounds in the CLI's grammar.
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
    """A compressed variable of an archive, decoded on indexing: only the
    frames the key selects along the first frame dim are read and decoded,
    and only from that variable's sections."""

    def __init__(self, path: str, header: dict[str, Any], var: dict[str, Any] | None = None) -> None:
        self.path = path
        var = header["var"] if var is None else var
        #: the variable of the archive this array reads
        self.name = str(var["name"])
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
            return np.asarray(self.file.read(None, self.name)[key])
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
        block = self.file.read((i0 * inner, i1 * inner), self.name)
        return np.asarray(block[(local, *rest)])


def _is_hiha(path: Any) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == b"\x89HIHA\r\n\x1a"
    except (OSError, TypeError):
        return False


class HiHaBackendEntrypoint(BackendEntrypoint):
    """Opens ``.hiha`` archives: ``xr.open_dataset(path, engine="hiha")``.

    Every variable of the archive (one, or several for a multi-variable
    archive) becomes a lazy data variable; indexing one reads only its own
    sections, and of those only the ones of the frames selected."""

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
        for var in h["variables"]:
            attrs = _attrs_from_archive(var["attrs"])
            attrs.pop(_ORDER_ATTR, None)
            encoding: dict[str, Any] = {
                k: attrs.pop(k) for k in _ENCODING_ATTRS if k in attrs
            }
            encoding["dtype"] = np.dtype(_NUMPY_OF.get(var["dtype"], np.float32))
            encoding["source"] = path
            arr = HiHaArray(path, h, var)
            arr._file = f
            chunks = {b - a for a, b in var["chunks"]}
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


def _pick_variables(
    obj: xr.Dataset | xr.DataArray, var: str | Iterable[str] | None
) -> tuple[xr.Dataset, list[str]]:
    """The Dataset and the names of the variables to code: the DataArray, the
    ones ``var`` names, or every float data variable of one or more dims."""
    if isinstance(obj, xr.DataArray):
        name = str(obj.name) if obj.name is not None else "data"
        return obj.to_dataset(name=name), [name]
    if var is not None:
        names = [var] if isinstance(var, str) else [str(v) for v in var]
        missing = [n for n in names if n not in obj.data_vars]
        if missing:
            raise ValueError(f"no data variable {missing} (have {list(obj.data_vars)})")
        if not names:
            raise ValueError("var= names no variable")
        return obj, list(dict.fromkeys(names))
    names = [str(n) for n, v in obj.data_vars.items() if v.dtype.kind == "f" and v.ndim > 0]
    if not names:
        raise ValueError(
            f"the Dataset has no float data variable to code (data variables: "
            f"{list(obj.data_vars)})"
        )
    return obj, names


def _layout(ds: xr.Dataset, name: str) -> dict[str, Any]:
    """The description of one coded variable: dims and layout, dtype, attrs."""
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
    return {
        "name": name,
        "dims": dims,
        "frame_dims": frame_dims,
        "level_dim": level,
        "lat_dim": lat,
        "lon_dim": dims[-1],
        "dtype": "f64" if da.dtype == np.float64 else "f32",
        "attrs": _attrs_to_archive(da.attrs),
    }


def _shared_meta(ds: xr.Dataset, names: list[str]) -> dict[str, Any]:
    """What the coded variables share (a multi-variable archive holds it once):
    the dims they use, the global attributes, and the coordinates and
    non-float data variables on those dims (kept exactly)."""
    used = {str(d) for n in names for d in ds[n].dims}
    coords = {str(k): v for k, v in ds.coords.items()}
    first_dims = [str(d) for n in names for d in ds[n].dims]
    # Dim coordinates in the variables' dim order first, then the others.
    order = list(dict.fromkeys(d for d in first_dims if d in coords))
    order += [c for c in coords if c not in order]
    aux = []
    kept = [(c, coords[c].variable) for c in order] + [
        (str(n), v.variable)
        for n, v in ds.data_vars.items()
        if str(n) not in names and v.dtype.kind != "f"
    ]
    for cname, v in kept:
        if {str(d) for d in v.dims} <= used:
            entry = _coord_to_archive(cname, v)
            if entry is not None:
                aux.append(entry)
    dims = [d for d in (str(x) for x in ds.sizes) if d in used]
    return {
        "dims": [(d, int(ds.sizes[d]), False) for d in dims],
        "global_attrs": _attrs_to_archive(ds.attrs),
        "aux_vars": aux,
    }


def _meta(ds: xr.Dataset, name: str) -> dict[str, Any]:
    """The full description of one variable coded alone."""
    return {**_shared_meta(ds, [name]), "var": _layout(ds, name)}


def _bound_terms(
    bound: str | Iterable[str] | None,
    bounds: Mapping[str, str] | None,
    keyword: str | None,
) -> list[str]:
    """The terms ``[VAR=]MODE:VALUE`` in the CLI's order of precedence:
    ``bounds`` (its config file's ``[bounds]`` table; key ``default`` for the
    default), then ``bound`` (its repeated ``--bound``), then a keyword bound
    (its ``--nrmse`` and friends) as the default."""
    terms: list[str] = []
    for k, v in (bounds or {}).items():
        if not isinstance(v, str):
            raise ValueError(f"bounds[{k!r}] must be a bound string like 'max-abs:1e-7', got {v!r}")
        terms.append(v if k == "default" else f"{k}={v}")
    if isinstance(bound, str):
        given = [bound]
    elif bound is None:
        given = []
    else:
        given = list(bound)
    for t in given:
        if not isinstance(t, str):
            raise ValueError(f"a bound term is a string like 'q=max-abs:1e-7', got {t!r}")
    if keyword is not None and any("=" not in t for t in given):
        raise ValueError(
            "two bounds for every variable: give either bound='MODE:VALUE' or one of nrmse=, "
            "rmse=, max_abs=, max_rel="
        )
    terms += given
    if keyword is not None:
        terms.append(keyword)
    if not terms:
        raise ValueError(
            "choose an accuracy: bound='MODE:VALUE' (e.g. 'nrmse:1e-4'), bounds={var: spec}, or "
            "one of nrmse=, rmse=, max_abs=, max_rel="
        )
    return terms


def to_hiha(
    obj: xr.Dataset | xr.DataArray,
    path: str | os.PathLike[str],
    *,
    bound: str | Iterable[str] | None = None,
    bounds: Mapping[str, str] | None = None,
    nrmse: float | None = None,
    rmse: float | None = None,
    max_abs: float | None = None,
    max_rel: float | None = None,
    var: str | Iterable[str] | None = None,
    chunk_frames: int | None = None,
) -> int:
    """Writes a DataArray, or the float data variables of a Dataset (all of
    them, or those ``var`` names), with their coordinates and attributes as
    **one** ``.hiha`` archive at ``path`` (several variables: a
    multi-variable archive, format 2.1, as the CLI writes); returns the
    archive's size in bytes.

    Bounds, the CLI's grammar (:func:`hiha.parse_bound`) and precedence:

    - ``bound="nrmse:1e-4"``: the default for every variable; a list of
      terms ``[VAR=]MODE:VALUE`` is the CLI's repeated ``--bound``:
      ``bound=["nrmse:1e-4", "q=max-abs:1e-7"]``;
    - ``bounds={"q": "max-abs:1e-7", "default": "nrmse:1e-4"}``: the CLI
      config file's ``[bounds]`` table (the ``bound`` terms override it);
    - or one keyword (``nrmse=``, ``rmse=``, ``max_abs=``, ``max_rel=``) as
      the default, like the CLI's ``--nrmse``.

    Every variable needs a bound; a per-variable bound naming no variable
    written is a ValueError. Each bound holds over its whole variable and
    is verified on every element before the file is written.

    Dims: the last two are lat and lon; the third-last is the level when it
    looks like a vertical axis (name, units or ``axis="Z"``, as in the CLI);
    the leading ones are frames, which ``open_dataset(...).isel(...)`` reads
    selectively. ``chunk_frames`` sets the frames per independently decodable
    chunk (default: about 4 Mi values per chunk). Variables are loaded and
    coded one at a time (a Dask-backed Dataset is computed variable by
    variable).
    """
    keyword = None
    if any(v is not None for v in (nrmse, rmse, max_abs, max_rel)):
        keyword = hiha.bound_spec(nrmse=nrmse, rmse=rmse, max_abs=max_abs, max_rel=max_rel)
    terms = _bound_terms(bound, bounds, keyword)
    ds, names = _pick_variables(obj, var)
    for n in names:
        if ds[n].dtype.kind != "f":
            raise TypeError(f"variable {n!r} has dtype {ds[n].dtype}: hiha codes float variables")
    specs = _hiha.resolve_bounds(terms, names)
    shared = _shared_meta(ds, names)
    layouts = [_layout(ds, n) for n in names]

    def items() -> Iterable[tuple[np.ndarray, str, dict[str, Any]]]:
        for n, spec, layout in zip(names, specs, layouts):
            values, _ = hiha.as_input(np.asarray(ds[n].values))
            yield values, spec, {**shared, "var": layout}

    if len(names) == 1:
        values, spec, meta = next(iter(items()))
        data = _hiha.encode(values, spec, chunk_frames, meta)
    else:
        data = _hiha.encode_many(items(), chunk_frames)
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
        return {str(k): v for k, v in value.items()}
    return {n: value for n in names}


def zarr_encoding(
    ds: xr.Dataset,
    *,
    bound: str | Iterable[str] | None = None,
    bounds: Mapping[str, str] | None = None,
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

    The bounds: either strings of the CLI's grammar, as for
    :func:`to_hiha` (``bound="nrmse:1e-4"`` for every float data variable,
    ``bound=["nrmse:1e-4", "q=max-abs:1e-7"]``, ``bounds={"q": "max-abs:1e-7"}``),
    or exactly one keyword, a number for every float data variable or a dict
    ``{name: value}`` for some of them. Variables left without a bound keep
    their encoding. What each mode becomes per chunk:

    - ``nrmse:t``: RMSE / (max - min) of each whole variable <= t. Each
      variable's global range R is computed (with Dask when chunked) and every
      chunk is coded to an absolute RMSE of t * R; the RMSE over the whole
      variable is then at most t * R as well, since it is a mean of the
      chunks' mean squared errors.
    - ``rmse:e``: absolute RMSE per chunk, so per variable.
    - ``max-abs:e``: every element within e (per element).
    - ``max-rel:r``: every element within r * R (R the variable's global range).
    - ``pw-rel:r``: every element within r * |value| (per element; float32
      variables only).
    - per-level forms (``nrmse:t:per-level``) are refused: a chunk cannot
      know a level's range over the whole variable; use :func:`to_hiha`.

    ``zarr_format`` (2 or 3; default: what ``to_zarr`` will write) selects a
    Zarr v2 ``compressors`` entry (numcodecs :class:`hiha.numcodecs.HiHa`) or
    a Zarr v3 ``serializer`` (:class:`hiha.zarr3.HiHaCodec`).
    """
    names = [str(n) for n, v in ds.data_vars.items() if v.dtype.kind == "f"]
    kw = [
        (k, v)
        for k, v in zip(hiha.BOUND_KINDS, (nrmse, rmse, max_abs, max_rel))
        if v is not None
    ]
    if len(kw) > 1:
        raise ValueError(
            f"give exactly one bound keyword (got {', '.join(k for k, _ in kw)})"
        )
    specs: dict[str, str] = {}
    if bound is not None or bounds is not None:
        keyword = None
        if kw:
            k, v = kw[0]
            if isinstance(v, Mapping):
                raise ValueError(
                    f"{k}= as a dict together with bound=/bounds=: give per-variable bounds as "
                    "bounds={name: 'MODE:VALUE'}"
                )
            keyword = hiha.bound_spec(**{k: v})
        terms = _bound_terms(bound, bounds, keyword)
        got = _hiha.resolve_bounds(terms, names, False)
        specs = {n: s for n, s in zip(names, got) if s is not None}
    elif kw:
        k, v = kw[0]
        specs = {n: hiha.bound_spec(**{k: x}) for n, x in _per_var(v, names).items()}
    else:
        raise ValueError(
            "give exactly one bound: bound='MODE:VALUE', bounds={var: spec}, or one of nrmse=, "
            "rmse=, max_abs=, max_rel="
        )
    fmt = _default_zarr_format() if zarr_format is None else int(zarr_format)
    if fmt not in (2, 3):
        raise ValueError(f"zarr_format must be 2 or 3, got {zarr_format}")
    parsed = {n: hiha.parse_bound(s) for n, s in specs.items()}
    for n, b in parsed.items():
        if b.per_level:
            raise ValueError(
                f"{n}: a per-level bound ({b.spec}) cannot be split into Zarr chunks (a chunk "
                "does not know a level's range over the whole variable); write a .hiha "
                "archive with hiha.xarray.to_hiha instead"
            )
    need_range = [n for n, b in parsed.items() if b.mode in ("nrmse", "max-rel")]
    ranges = _ranges(ds, need_range) if need_range else {}
    encoding: dict[str, dict[str, Any]] = {}
    for n, b in parsed.items():
        args: dict[str, Any]
        if b.mode == "nrmse":
            args = {"rmse": b.value * ranges[n] if ranges[n] > 0 else b.value}
        elif b.mode == "max-rel":
            args = {"max_abs": b.value * ranges[n] if ranges[n] > 0 else b.value}
        elif b.mode in ("rmse", "max-abs"):
            args = {b.mode.replace("-", "_"): b.value}
        else:
            args = {"bound": b.spec}
        if fmt == 3:
            from hiha.zarr3 import HiHaCodec

            encoding[n] = {
                "serializer": HiHaCodec(**args, chunk_frames=chunk_frames),
                "compressors": None,
                "filters": None,
            }
        else:
            from hiha.numcodecs import HiHa

            codec = HiHa(**args, chunk_frames=chunk_frames)
            import zarr

            if int(zarr.__version__.split(".")[0]) < 3:
                encoding[n] = {"compressor": codec, "filters": None}
            else:
                encoding[n] = {"compressors": [codec], "filters": None}
    return encoding
