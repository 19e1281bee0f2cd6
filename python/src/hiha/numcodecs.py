"""The ``hiha`` numcodecs codec (registered through the ``numcodecs.codecs``
entry point, so ``numcodecs.get_codec({"id": "hiha", "nrmse": 1e-4})`` works
once the package is installed).

Use it as a Zarr v2 ``compressor`` (or ``filters`` entry) on float32/float64
arrays; for Zarr v3 arrays use :class:`hiha.zarr3.HiHaCodec` as the
``serializer``. :func:`hiha.xarray.zarr_encoding` picks the right one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_contiguous_ndarray, ndarray_copy

import hiha

#: Version of the configuration layout; stored in every config.
CONFIG_VERSION = 1


class HiHa(Codec):
    """Error-bounded lossy codec for float32/float64 chunks.

    Parameters (exactly one bound):

    - ``max_abs=e``: every element within ``e``. **Per element**, so it holds
      for the whole array whatever the chunking.
    - ``rmse=e``: the RMSE of **each chunk** is at most ``e`` (absolute, in
      the array's units). Since the mean of the chunks' squared errors is at
      most the largest, the RMSE of the **whole array** (or of any union of
      chunks) is at most ``e`` too.
    - ``nrmse=t``: RMSE / (max - min) of **each chunk**, over that chunk's own
      range, is at most ``t``. A chunk's range is at most the array's, so the
      NRMSE of the whole array over its range is at most ``t`` as well, but
      chunks whose range is small get a much smaller budget than they need:
      for a bound over the whole array, give ``rmse = t * (array range)``
      instead, which :func:`hiha.xarray.zarr_encoding` computes for you.
    - ``max_rel=r``: every element within ``r`` times **its chunk's** range
      (so within ``r`` times the array's range).
    - ``bound="MODE:VALUE[:per-level]"``: the same bounds in the grammar of
      the CLI's ``--bound`` (:func:`hiha.parse_bound`), plus ``pw-rel:r``
      (every element within ``r * |value|``: per element, so independent of
      chunking) and the per-level forms (per level **of each chunk**).
      float32 chunks only for ``pw-rel`` and per-level.

    ``chunk_frames`` (optional) sets the frames per independently decodable
    section inside a chunk.

    Each chunk is coded as its own ``.hiha`` archive (last two axes lat/lon,
    third-last level, the rest frames) and verified on every element after
    encoding. NaN and infinities are kept exactly. float64 chunks are coded as
    float32, with the bound verified against the float64 values.
    """

    codec_id = "hiha"

    def __init__(
        self,
        nrmse: float | None = None,
        rmse: float | None = None,
        max_abs: float | None = None,
        max_rel: float | None = None,
        chunk_frames: int | None = None,
        version: int = CONFIG_VERSION,
        bound: str | None = None,
    ) -> None:
        if version != CONFIG_VERSION:
            raise ValueError(
                f"hiha codec configuration version {version} is not supported by this "
                f"build (it reads version {CONFIG_VERSION}); use a newer hiha"
            )
        self.spec = hiha.bound_spec(
            bound, nrmse=nrmse, rmse=rmse, max_abs=max_abs, max_rel=max_rel
        )
        # The config keeps the form the caller used (a keyword, or bound=).
        self.kind, self.value = next(
            (
                (k, float(v))
                for k, v in zip(hiha.BOUND_KINDS, (nrmse, rmse, max_abs, max_rel))
                if v is not None
            ),
            ("bound", self.spec),
        )
        if chunk_frames is not None:
            chunk_frames = int(chunk_frames)
            if chunk_frames < 1:
                raise ValueError(f"chunk_frames must be at least 1, got {chunk_frames}")
        self.chunk_frames = chunk_frames

    def encode(self, buf: Any) -> bytes:
        if not isinstance(buf, np.ndarray):
            raise TypeError(
                "the hiha codec needs the chunk as a float32/float64 numpy array (its "
                f"shape and dtype), got {type(buf).__name__}: use it as a Zarr "
                "compressor or filter, not after a bytes-to-bytes codec"
            )
        a, fortran = hiha.as_input(buf)
        if fortran:
            return hiha._hiha.encode(a, self.spec, self.chunk_frames, None, True)
        return hiha._hiha.encode(a, self.spec, self.chunk_frames)

    def decode(self, buf: Any, out: Any = None) -> np.ndarray:
        if isinstance(buf, np.ndarray) and buf.dtype != np.uint8:
            buf = ensure_contiguous_ndarray(buf).view(np.uint8)
        arr = hiha._hiha.decode(hiha.as_buffer(buf))
        if out is not None:
            return ndarray_copy(arr, out)
        return arr

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "id": self.codec_id,
            "version": CONFIG_VERSION,
            self.kind: self.value,
        }
        if self.chunk_frames is not None:
            config["chunk_frames"] = self.chunk_frames
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> HiHa:
        config = dict(config)
        codec_id = config.pop("id", cls.codec_id)
        if codec_id != cls.codec_id:
            raise ValueError(f"not a hiha codec configuration: id {codec_id!r}")
        return cls(**config)

    def __repr__(self) -> str:
        extra = f", chunk_frames={self.chunk_frames}" if self.chunk_frames else ""
        return f"HiHa({self.kind}={self.value!r}{extra})"
