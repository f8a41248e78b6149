"""Checkpoint writers that take one tensor at a time, so a conversion never holds more than one output tensor.

`safetensors.torch.save_file` and `torch.save` both want the whole state dict in memory. Both formats only need
the tensors' names, dtypes and shapes up front (safetensors: a JSON header; torch: the pickle with its
persistent storage ids), so the writers here take that plan first and then the tensors' bytes in order.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import sys
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
        self._f.write(struct.pack("<Q", len(raw)) + raw)

    def write(self, tensor: torch.Tensor) -> None:
        spec = self.specs[self._next]
        _check(spec, tensor)
        self._f.write(_raw(tensor))
        self._next += 1

    def close(self) -> None:
        if self._next != len(self.specs):
            self._f.close()
            raise ValueError(f"{self.path.name}: {len(self.specs) - self._next} tensors were never written")
        self._f.flush()
        os.fsync(self._f.fileno())
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
        args: tuple[Any, ...] = (self.storage, 0, torch.Size(shape), tuple(reversed(stride)), False, OrderedDict())
        return torch._utils._rebuild_tensor_v2, args


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, _Storage):
            numel = obj.spec.nbytes // torch.empty((), dtype=obj.spec.dtype).element_size()
            storage_type = getattr(torch, torch.storage._dtype_to_storage_type_map()[obj.spec.dtype])
            return ("storage", storage_type, obj.key, "cpu", numel)
        return None


class TorchWriter:
    """Writes a `torch.save`-compatible .pth (zip, 64-byte aligned records: loadable with mmap=True).

    The pickle names every storage first; then one tensor at a time goes to its `data/N` record, through
    torch's own zip writer. Falls back to torch.save of the collected dict where that writer is missing.
    """

    def __init__(self, path: Path, specs: list[TensorSpec]) -> None:
        self.path, self.specs = path, specs
        self._next = 0
        self._writer = getattr(torch._C, "PyTorchFileWriter", None)
        self._held: dict[str, torch.Tensor] = {}
        if self._writer is None:
            return
        state = OrderedDict((s.name, _Tensor(_Storage(str(i), s))) for i, s in enumerate(specs))
        data = io.BytesIO()
        _Pickler(data, protocol=2).dump(state)
        self._zip = self._writer(str(path))
        pkl = data.getvalue()
        self._zip.write_record("data.pkl", pkl, len(pkl))
        self._zip.write_record(".format_version", b"1", 1)
        self._zip.write_record("byteorder", b"little", len("little"))

    def write(self, tensor: torch.Tensor) -> None:
        spec = self.specs[self._next]
        _check(spec, tensor)
        if self._writer is None:
            self._held[spec.name] = tensor.contiguous().clone()
        else:
            t = tensor.detach().contiguous()
            storage = t.untyped_storage()
            if t.storage_offset() or storage.nbytes() != spec.nbytes:
                t = t.clone()  # a view of a bigger storage (a slice of a shard): write only the view
                storage = t.untyped_storage()
            try:
                self._zip.write_record(f"data/{self._next}", storage, spec.nbytes)
            except TypeError:  # torch < 2.3 takes a data pointer
                self._zip.write_record(f"data/{self._next}", t.data_ptr(), spec.nbytes)
        self._next += 1

    def close(self) -> None:
        if self._next != len(self.specs):
            raise ValueError(f"{self.path.name}: {len(self.specs) - self._next} tensors were never written")
        if self._writer is None:
            torch.save(self._held, self.path)
            self._held = {}
        else:
            self._zip.write_end_of_file()
            del self._zip
        with open(self.path, "rb+") as f:
            os.fsync(f.fileno())
