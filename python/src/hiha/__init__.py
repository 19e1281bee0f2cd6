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

Bounds (exactly one):

``nrmse=t``   RMSE / (max - min) over the array <= t
``rmse=e``    RMSE <= e, in the array's units
``max_abs=e`` every element within e
``max_rel=r`` every element within r * (max - min)

Errors: bad parameters raise ``ValueError`` (non-float arrays ``TypeError``);
damaged or truncated archives raise :class:`CorruptArchiveError` (a
``ValueError``), archives of a newer format :class:`UnsupportedArchiveError`.

Submodules (imported on first use): :mod:`hiha.numcodecs` (the ``hiha``
numcodecs codec), :mod:`hiha.zarr3` (a native zarr-python 3 codec),
:mod:`hiha.xarray` (backend, ``to_hiha``, ``zarr_encoding``).
"""

from __future__ import annotations

import importlib
from typing import Any

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
    "decode",
    "encode",
    "header",
    "io_stats",
    "reset_io_stats",
    "sections_for_frames",
]

BOUND_KINDS = ("nrmse", "rmse", "max_abs", "max_rel")

_SUBMODULES = {"numcodecs", "zarr3", "xarray"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def bound_from(
    nrmse: float | None = None,
    rmse: float | None = None,
    max_abs: float | None = None,
    max_rel: float | None = None,
) -> tuple[str, float]:
    """The one bound given, as ``(kind, value)``; ValueError unless exactly one."""
    given = [
        (k, v)
        for k, v in zip(BOUND_KINDS, (nrmse, rmse, max_abs, max_rel))
        if v is not None
    ]
    if len(given) != 1:
        raise ValueError(
            "give exactly one bound: nrmse=, rmse=, max_abs= or max_rel= "
            f"(got {', '.join(k for k, _ in given) or 'none'})"
        )
    kind, value = given[0]
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{kind} must be a number, got {value!r}") from None
    _hiha.check_bound(kind, value)
    return kind, value


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
    nrmse: float | None = None,
    rmse: float | None = None,
    max_abs: float | None = None,
    max_rel: float | None = None,
    chunk_frames: int | None = None,
) -> bytes:
    """Compresses a float32/float64 array to ``.hiha`` bytes within the bound
    (exactly one of ``nrmse``, ``rmse``, ``max_abs``, ``max_rel``), verified
    on every element. ``chunk_frames`` sets the frames per independently
    decodable chunk (default: about 4 Mi values per chunk)."""
    kind, value = bound_from(nrmse, rmse, max_abs, max_rel)
    a, fortran = as_input(array)
    if fortran:
        return _hiha.encode(a, kind, value, chunk_frames, None, True)
    return _hiha.encode(a, kind, value, chunk_frames)


def decode(data: Any, *, frames: tuple[int, int] | None = None) -> np.ndarray:
    """Decompresses ``.hiha`` bytes to a numpy array of the original shape,
    dtype and memory order. ``frames=(a, b)`` decodes only the flattened
    frames ``a..b`` (reading only the sections they need)."""
    return _hiha.decode(as_buffer(data), frames)


def header(data: Any) -> dict[str, Any]:
    """The archive's header without decoding values: ``shape`` (frames,
    levels, lat, lon), ``bound``, ``dims``, ``aux_vars`` (coordinates),
    ``global_attrs``, ``var`` (name, dims, layout, dtype, attrs),
    ``sections`` and ``chunks``."""
    return _hiha.header(as_buffer(data))


def sections_for_frames(data: Any, a: int, b: int) -> list[int]:
    """Indices of the sections needed to decode flattened frames ``a..b``."""
    return _hiha.sections_for_frames(as_buffer(data), a, b)


def io_stats() -> tuple[int, int]:
    """``(sections, bytes)`` read from disk by :class:`ArchiveFile` objects
    (the xarray backend) since the last :func:`reset_io_stats`."""
    return _hiha.io_stats()


def reset_io_stats() -> None:
    """Resets the :func:`io_stats` counters."""
    _hiha.reset_io_stats()
