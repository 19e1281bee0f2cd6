"""hiha: error-bounded compression of gridded atmospheric data.

Array API::

    blob = hiha.encode(array, nrmse=1e-4)     # or rmse=, max_abs=, max_rel=
    back = hiha.decode(blob)                   # same shape, dtype and memory order

``array`` is a float32 or float64 numpy array of 1 to 5 (or more) dims; the
last two are latitude and longitude, the third-last the vertical level, the
others are frames (time, ensemble member, ...). NaN and infinities come back
exactly where they were. The bound is verified on every element after
encoding (against the float64 values for float64 input, which is coded as
float32 with the bound tightened by the rounding); a miss raises
:class:`BoundViolatedError` and is a bug, never a tolerance.

Bounds (exactly one): ``bound="MODE:VALUE[:per-level]"``, the grammar of
the CLI's ``--bound`` (:func:`parse_bound`), or one keyword:

``nrmse:t``  / ``nrmse=t``   RMSE / (max - min) over the array <= t
``rmse:e``   / ``rmse=e``    RMSE <= e, in the array's units
``max-abs:e``/ ``max_abs=e`` every element within e
``max-rel:r``/ ``max_rel=r`` every element within r * (max - min)
``pw-rel:r``                 every element within r * |value| (float32 only)
``nrmse:t:per-level``, ``max-rel:r:per-level``: on every level against that
level's own range (float32 only)

Multi-variable archives (the CLI's, or :func:`hiha.xarray.to_hiha` of a
Dataset): :func:`variables` lists them, ``decode(blob, variable="t")``
decodes one.

Errors: bad parameters raise ``ValueError`` (non-float arrays ``TypeError``);
damaged or truncated archives raise :class:`CorruptArchiveError` (a
``ValueError``), archives of a newer format :class:`UnsupportedArchiveError`.

Submodules (imported on first use): :mod:`hiha.numcodecs` (the ``hiha``
numcodecs codec), :mod:`hiha.zarr3` (a native zarr-python 3 codec),
:mod:`hiha.xarray` (backend, ``to_hiha``, ``zarr_encoding``).
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

import numpy as np

from . import _hiha
from ._hiha import (
    FORMAT_VERSION,
    ArchiveFile,
    BoundViolatedError,
    CorruptArchiveError,
    InternalError,
    UnsupportedArchiveError,
)

__version__: str = _hiha.__version__

__all__ = [
    "FORMAT_VERSION",
    "ArchiveFile",
    "BoundViolatedError",
    "CorruptArchiveError",
    "InternalError",
    "UnsupportedArchiveError",
    "Bound",
    "bound_spec",
    "decode",
    "encode",
    "header",
    "parse_bound",
    "variables",
    "io_stats",
    "reset_io_stats",
    "sections_for_frames",
    "tune_malloc",
]

BOUND_KINDS = ("nrmse", "rmse", "max_abs", "max_rel")

_SUBMODULES = {"numcodecs", "zarr3", "xarray"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Bound(NamedTuple):
    """A parsed bound (see :func:`parse_bound`)."""

    #: ``nrmse``, ``rmse``, ``max-abs``, ``max-rel`` or ``pw-rel``
    mode: str
    value: float
    #: the bound holds on every level against that level's own range
    per_level: bool
    #: the canonical string, e.g. ``"max-abs:0.05"``
    spec: str


def parse_bound(spec: str) -> Bound:
    """Parses a bound of the grammar the CLI's ``--bound`` and its config
    file's ``[bounds]`` use: ``MODE:VALUE[:per-level]``, MODE one of
    ``nrmse``, ``rmse``, ``max-abs``, ``max-rel``, ``pw-rel`` (``_`` may
    replace ``-``, case is ignored). ``:per-level`` (nrmse and max-rel)
    asks for the bound on every level against that level's own range.
    ValueError when it does not parse or the value is out of range."""
    if not isinstance(spec, str):
        raise TypeError(f"a bound is a string like 'nrmse:1e-4', got {type(spec).__name__}")
    return Bound(*_hiha.parse_bound(spec))


def bound_spec(
    bound: str | None = None,
    *,
    nrmse: float | None = None,
    rmse: float | None = None,
    max_abs: float | None = None,
    max_rel: float | None = None,
) -> str:
    """The one bound given, as a canonical bound string (``"nrmse:0.0001"``):
    either ``bound`` (a string of the grammar, see :func:`parse_bound`) or
    exactly one of the keywords. ValueError unless exactly one is given or
    when it is not valid."""
    given = [
        (k, v)
        for k, v in zip(BOUND_KINDS, (nrmse, rmse, max_abs, max_rel))
        if v is not None
    ]
    if bound is not None:
        given.insert(0, ("bound", bound))
    if len(given) != 1:
        raise ValueError(
            "give exactly one bound: bound='MODE:VALUE' or one of nrmse=, rmse=, max_abs=, "
            f"max_rel= (got {', '.join(k for k, _ in given) or 'none'})"
        )
    kind, value = given[0]
    if kind == "bound":
        return parse_bound(value).spec
    if isinstance(value, (str, bytes)) or not np.isscalar(value):
        raise ValueError(f"{kind} must be a number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{kind} must be a number, got {value!r}") from None
    return parse_bound(f"{kind}:{value!r}").spec


def as_input(array: Any) -> tuple[np.ndarray, bool]:
    """``array`` as a C-contiguous, native-endian float32/float64 array, and
    whether it was Fortran-ordered (so that decoding gives that order back)."""
    a = np.asarray(array)
    if a.dtype.kind != "f" or a.dtype.itemsize not in (4, 8):
        raise TypeError(f"hiha codes float32 and float64 arrays, got dtype {a.dtype}")
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    fortran = a.ndim > 1 and a.flags.f_contiguous and not a.flags.c_contiguous
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    return a, fortran


def as_buffer(data: Any) -> bytes | np.ndarray:
    """Archive bytes as ``bytes`` or a contiguous 1-D uint8 array (no copy
    where possible)."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, np.ndarray):
        a = data if data.flags.c_contiguous else np.ascontiguousarray(data)
        return a.reshape(-1).view(np.uint8)
    try:
        return np.frombuffer(memoryview(data), dtype=np.uint8)
    except TypeError:
        raise TypeError(
            f"archive data must be bytes-like, got {type(data).__name__}"
        ) from None


def encode(
    array: Any,
    *,
    bound: str | None = None,
    nrmse: float | None = None,
    rmse: float | None = None,
    max_abs: float | None = None,
    max_rel: float | None = None,
    chunk_frames: int | None = None,
) -> bytes:
    """Compresses a float32/float64 array to ``.hiha`` bytes within the bound,
    verified on every element. The bound is either ``bound="MODE:VALUE"``
    (the CLI's grammar, :func:`parse_bound`; e.g. ``"max-abs:0.1"``,
    ``"pw-rel:1e-3"``, ``"nrmse:1e-3:per-level"``) or exactly one of the
    keywords ``nrmse``, ``rmse``, ``max_abs``, ``max_rel``. ``pw-rel`` and
    per-level bounds take float32 arrays (ValueError for float64).
    ``chunk_frames`` sets the frames per independently decodable chunk
    (default: about 4 Mi values per chunk)."""
    spec = bound_spec(bound, nrmse=nrmse, rmse=rmse, max_abs=max_abs, max_rel=max_rel)
    a, fortran = as_input(array)
    if fortran:
        return _hiha.encode(a, spec, chunk_frames, None, True)
    return _hiha.encode(a, spec, chunk_frames)


def decode(
    data: Any, *, frames: tuple[int, int] | None = None, variable: str | None = None
) -> np.ndarray:
    """Decompresses ``.hiha`` bytes to a numpy array of the original shape,
    dtype and memory order. ``frames=(a, b)`` decodes only the flattened
    frames ``a..b`` (reading only the sections they need). ``variable``
    names the variable of a multi-variable archive (:func:`variables`); it
    is required there, and optional for a one-variable archive."""
    return _hiha.decode(as_buffer(data), frames, variable)


def variables(data: Any) -> list[str]:
    """The names of the variables an archive holds, in archive order (one
    for an archive of one array; several for an archive the CLI or
    :func:`hiha.xarray.to_hiha` wrote from a Dataset)."""
    return _hiha.variables(as_buffer(data))


def header(data: Any) -> dict[str, Any]:
    """The archive's header without decoding values.

    Shared by all variables: ``version`` (major, minor), ``dims``,
    ``aux_vars`` (coordinates), ``global_attrs``, ``sections`` (every
    section of the archive: kind, first frame, end frame, bytes).

    ``variables``: one dict per variable, in archive order: ``name``,
    ``dims``, ``frame_dims``, ``level_dim``, ``lat_dim``, ``lon_dim``,
    ``dtype``, ``attrs``, ``shape`` (frames, levels, lat, lon), ``bound``
    (kind, value), ``bound_spec`` (the grammar's string), ``codec_config``,
    ``chunks`` (frame ranges) and ``sections`` (indices into ``sections``).

    For convenience the first variable's ``var`` (description), ``shape``,
    ``bound``, ``bound_spec``, ``codec_config`` and ``chunks`` are also at
    the top level."""
    return _hiha.header(as_buffer(data))


def sections_for_frames(
    data: Any, a: int, b: int, *, variable: str | None = None
) -> list[int]:
    """Indices (into ``header(data)["sections"]``) of the sections needed to
    decode flattened frames ``a..b`` of ``variable`` (the only one when
    ``None``)."""
    return _hiha.sections_for_frames(as_buffer(data), a, b, variable)


def io_stats() -> tuple[int, int]:
    """``(sections, bytes)`` read from disk by :class:`ArchiveFile` objects
    (the xarray backend) since the last :func:`reset_io_stats`."""
    return _hiha.io_stats()


def reset_io_stats() -> None:
    """Resets the :func:`io_stats` counters."""
    _hiha.reset_io_stats()


def tune_malloc() -> bool:
    """Opt-in speed-up on Linux with glibc: raises malloc's mmap threshold to
    32 MiB and its trim threshold to 64 MiB for the whole process, so the
    blocks of megabytes that coding a chunk allocates and frees are reused
    instead of being given back to the kernel and faulted in again (the
    ``hiha`` CLI does this at start; 10–30 % faster coding of chunks of a few
    MB). The cost: up to 64 MiB of freed memory per malloc arena stays with
    the process. Returns ``True`` when glibc took the settings, ``False``
    elsewhere (nothing changes). Call it once, early."""
    return _hiha.tune_malloc()
