"""Checkpoint writers that take one tensor at a time, so a conversion never holds more than one output tensor.

`safetensors.torch.save_file` and `torch.save` both want the whole state dict in memory. Both formats only need
the tensors' names, dtypes and shapes up front (safetensors: a JSON header; torch: the pickle with its
persistent storage ids), so the writers here take that plan first and then the tensors' bytes in order.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import struct
import sys
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import torch

SAFETENSORS_DTYPES = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float64: "F64",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of an output file, known before its data exists."""

    name: str
    shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def nbytes(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n * torch.empty((), dtype=self.dtype).element_size()


def _raw(tensor: torch.Tensor) -> memoryview:
    """The tensor's bytes without a copy (a copy only if it is not contiguous), little-endian as both formats say."""
    t = tensor.detach().contiguous()
    if sys.byteorder != "little" and t.element_size() > 1:
        raise RuntimeError("writing checkpoints on a big-endian machine is not supported")
    flat = t.reshape(-1).view(torch.uint8) if t.dim() else t.reshape(1).view(torch.uint8)
    return flat.numpy().data


def _check(spec: TensorSpec, tensor: torch.Tensor) -> None:
    if tuple(tensor.shape) != spec.shape or tensor.dtype != spec.dtype:
        raise ValueError(f"{spec.name}: got {tuple(tensor.shape)} {tensor.dtype}, planned {spec.shape} {spec.dtype}")


class SafetensorsWriter:
    """Writes a .safetensors file: the header from the plan, then each tensor's bytes as it comes."""

    def __init__(self, path: Path, specs: list[TensorSpec], metadata: dict[str, str] | None = None) -> None:
        self.path = path
        self.specs = specs
        self._next = 0
        header: dict[str, Any] = {"__metadata__": metadata or {"format": "pt"}}
        offset = 0
        for spec in specs:
            header[spec.name] = {
                "dtype": SAFETENSORS_DTYPES[spec.dtype],
                "shape": list(spec.shape),
                "data_offsets": [offset, offset + spec.nbytes],
            }
            offset += spec.nbytes
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)  # the data starts 8-byte aligned, as safetensors itself pads
        self.size = 8 + len(raw) + offset
        self._f: BinaryIO = open(path, "wb")  # noqa: SIM115 (closed in close())
        try:
            self._f.write(struct.pack("<Q", len(raw)) + raw)
        except BaseException:
            self.abandon()
            raise

    def write(self, tensor: torch.Tensor) -> None:
        spec = self.specs[self._next]
        _check(spec, tensor)
        try:
            self._f.write(_raw(tensor))
        except BaseException:
            self.abandon()
            raise
        self._next += 1

    def close(self) -> None:
        if self._next != len(self.specs):
            self.abandon()
            raise ValueError(f"{self.path.name}: {len(self.specs) - self._next} tensors were never written")
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
        except BaseException:
            self.abandon()
            raise

    def abandon(self) -> None:
        """Close the file after a failed write (its folder is deleted next; Windows cannot delete an open file)."""
        with contextlib.suppress(OSError):
            self._f.close()


class _Storage:
    def __init__(self, key: str, spec: TensorSpec) -> None:
        self.key, self.spec = key, spec


class _Tensor:
    """Pickles as `torch._utils._rebuild_tensor_v2(storage, 0, shape, stride, ...)`: what torch.save writes."""

    def __init__(self, storage: _Storage) -> None:
        self.storage = storage

    def __reduce_ex__(self, protocol: Any) -> Any:
        shape = self.storage.spec.shape
        stride: list[int] = []
        step = 1
        for size in reversed(shape):
            stride.append(step)
            step *= size
        # Plain tuples, as torch.save writes them (a torch.Size would be one more global for loaders to allow).
        args: tuple[Any, ...] = (self.storage, 0, tuple(shape), tuple(reversed(stride)), False, OrderedDict())
        return torch._utils._rebuild_tensor_v2, args


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, _Storage):
            numel = obj.spec.nbytes // torch.empty((), dtype=obj.spec.dtype).element_size()
            storage_type = getattr(torch, torch.storage._dtype_to_storage_type_map()[obj.spec.dtype])
            return ("storage", storage_type, obj.key, "cpu", numel)
        return None


class _ZipRecords:
    """The zip container of a .pth written through Python, so a failed write is an OSError like any other (torch's
    own writer aborts the process when a write fails). Records are stored uncompressed, each record's data
    64-byte aligned by a padding extra field, as torch.save lays them out for loading with mmap=True."""

    ALIGN = 64
    PADDING_ID = 0x4246  # "FB", the extra field torch's writer pads with

    def __init__(self, path: Path) -> None:
        self.prefix = path.stem  # torch.save names the archive's one folder after the file
        self._zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True)

    def write(self, name: str, data: bytes | memoryview) -> None:
        info = zipfile.ZipInfo(f"{self.prefix}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
        info.file_size = memoryview(data).nbytes
        zip64 = info.file_size * 1.05 > zipfile.ZIP64_LIMIT  # zipfile's own rule, decided here to pad right
        header = 30 + len(info.filename.encode()) + 4 + (20 if zip64 else 0)
        pad = -(self._zip.fp.tell() + header) % self.ALIGN  # type: ignore[union-attr]
        info.extra = struct.pack("<HH", self.PADDING_ID, pad) + b"Z" * pad
        with self._zip.open(info, "w", force_zip64=zip64) as f:
            f.write(data)

    def close(self) -> None:
        self._zip.close()

    def abandon(self) -> None:
        """Close the file without writing the directory (after a failed write)."""
        fp, self._zip.fp = self._zip.fp, None  # ZipFile's close (and its __del__) then write nothing
        if fp is not None:
            with contextlib.suppress(OSError):
                fp.close()


class TorchWriter:
    """Writes a `torch.save`-compatible .pth (zip, 64-byte aligned records: loadable with mmap=True).

    The pickle names every storage first; then one tensor at a time goes to its `data/N` record.
    """

    def __init__(self, path: Path, specs: list[TensorSpec]) -> None:
        self.path, self.specs = path, specs
        self._next = 0
        state = OrderedDict((s.name, _Tensor(_Storage(str(i), s))) for i, s in enumerate(specs))
        data = io.BytesIO()
        _Pickler(data, protocol=2).dump(state)
        self._zip = _ZipRecords(path)
        try:
            self._zip.write("data.pkl", data.getvalue())
            self._zip.write(".format_version", b"1")
            self._zip.write(".storage_alignment", str(_ZipRecords.ALIGN).encode())
            self._zip.write("byteorder", b"little")
        except BaseException:
            self._zip.abandon()
            raise

    def write(self, tensor: torch.Tensor) -> None:
        spec = self.specs[self._next]
        _check(spec, tensor)
        try:
            self._zip.write(f"data/{self._next}", _raw(tensor))
        except BaseException:
            self._zip.abandon()
            raise
        self._next += 1

    def close(self) -> None:
        if self._next != len(self.specs):
            self._zip.abandon()
            raise ValueError(f"{self.path.name}: {len(self.specs) - self._next} tensors were never written")
        try:
            self._zip.write("version", b"3\n")
            self._zip.close()
        except BaseException:
            self._zip.abandon()
            raise
        with open(self.path, "rb+") as f:
            os.fsync(f.fileno())

    def abandon(self) -> None:
        self._zip.abandon()
