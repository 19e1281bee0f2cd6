"""A native zarr-python 3 codec: :class:`HiHaCodec`, an array-to-bytes codec
(Zarr v3 ``serializer``) registered under the name ``hiha`` through the
``zarr.codecs`` entry point.

::

    zarr.create_array(store, shape=..., chunks=..., dtype="float32",
                      serializer=HiHaCodec(rmse=0.05), compressors=None)

The guarantees per chunk and per array are those of
:class:`hiha.numcodecs.HiHa` (same parameters): ``max_abs`` holds per
element, ``rmse`` per chunk and therefore over the whole array, ``nrmse`` and
``max_rel`` are relative to each chunk's own range.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from zarr.abc.codec import ArrayBytesCodec
from zarr.core.common import parse_named_configuration
from zarr.registry import register_codec

import hiha
from hiha.numcodecs import CONFIG_VERSION

if TYPE_CHECKING:
    from typing import Self

    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer, NDBuffer


@dataclass(frozen=True)
class HiHaCodec(ArrayBytesCodec):
    """Error-bounded array-to-bytes codec for float32/float64 Zarr v3 arrays.

    Exactly one of ``nrmse``, ``rmse``, ``max_abs``, ``max_rel`` or
    ``bound="MODE:VALUE[:per-level]"`` (:func:`hiha.parse_bound`); see
    :class:`hiha.numcodecs.HiHa` for what each guarantees per chunk and per
    array. Each chunk is one ``.hiha`` archive, verified on every element
    after encoding.
    """

    is_fixed_size = False

    kind: str
    value: float | str
    spec: str
    chunk_frames: int | None

    def __init__(
        self,
        *,
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
        spec = hiha.bound_spec(bound, nrmse=nrmse, rmse=rmse, max_abs=max_abs, max_rel=max_rel)
        # The configuration keeps the form the caller used.
        kind, value = next(
            (
                (k, float(v))
                for k, v in zip(hiha.BOUND_KINDS, (nrmse, rmse, max_abs, max_rel))
                if v is not None
            ),
            ("bound", spec),
        )
        if chunk_frames is not None and int(chunk_frames) < 1:
            raise ValueError(f"chunk_frames must be at least 1, got {chunk_frames}")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "spec", spec)
        object.__setattr__(
            self, "chunk_frames", None if chunk_frames is None else int(chunk_frames)
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        _, config = parse_named_configuration(data, "hiha")
        return cls(**config)

    def to_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {"version": CONFIG_VERSION, self.kind: self.value}
        if self.chunk_frames is not None:
            config["chunk_frames"] = self.chunk_frames
        return {"name": "hiha", "configuration": config}

    def validate(self, *, shape: Any, dtype: Any, chunk_grid: Any) -> None:
        native = np.dtype(dtype.to_native_dtype())
        if native.kind != "f" or native.itemsize not in (4, 8):
            raise ValueError(f"the hiha codec codes float32 and float64 arrays, not {native}")

    def _encode_sync(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        a, fortran = hiha.as_input(chunk_array.as_numpy_array())
        data = hiha._hiha.encode(a, self.spec, self.chunk_frames, None, fortran)
        return chunk_spec.prototype.buffer.from_bytes(data)

    def _decode_sync(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        arr = hiha._hiha.decode(hiha.as_buffer(chunk_bytes.as_numpy_array()))
        want = chunk_spec.dtype.to_native_dtype()
        if arr.dtype != want:
            arr = arr.astype(want)
        arr = arr.reshape(chunk_spec.shape)
        return chunk_spec.prototype.nd_buffer.from_numpy_array(arr)

    async def _encode_single(
        self, chunk_array: NDBuffer, chunk_spec: ArraySpec
    ) -> Buffer | None:
        # The codec releases the GIL: chunks code in parallel on threads.
        return await asyncio.to_thread(self._encode_sync, chunk_array, chunk_spec)

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec)

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: ArraySpec) -> int:
        raise NotImplementedError("the size of a hiha chunk depends on its values")


register_codec("hiha", HiHaCodec)
