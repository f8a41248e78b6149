"""What the files of a Llama download are, from their bytes: pure parsers, no file system and no code run.

A Meta `.pth` is a zip whose `data.pkl` records every tensor's storage dtype, shape and stride; we unpickle
`data.pkl` with an unpickler that resolves nothing but a handful of names to our own inert stand-ins, so it
never runs code. Both the doctor's probes and the runner parse with these; each reads the bytes itself."""

from __future__ import annotations

import base64
import binascii
import io
import pickle
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from llamadoctor.files import Shard
from llamadoctor.i18n import N_

HEAD_BYTES = 512
LFS_MAGIC = b"version https://git-lfs"
MAX_PICKLE = 64 * 1024 * 1024
MAX_TOKENIZER = 32 * 1024 * 1024
UNKNOWN_PIECE = 2  # SentencePiece's ModelProto.SentencePiece.Type.UNKNOWN
MAX_TOKENIZER_JSON = 64 * 1024 * 1024  # Llama 3's is 9 MB
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024

# torch.<Name>Storage -> (dtype name, bytes per element)
STORAGE_TYPES = {
    "BFloat16Storage": ("bfloat16", 2),
    "HalfStorage": ("float16", 2),
    "FloatStorage": ("float32", 4),
    "DoubleStorage": ("float64", 8),
    "LongStorage": ("int64", 8),
    "IntStorage": ("int32", 4),
    "ShortStorage": ("int16", 2),
    "CharStorage": ("int8", 1),
    "ByteStorage": ("uint8", 1),
    "BoolStorage": ("bool", 1),
    "Float8_e4m3fnStorage": ("float8_e4m3fn", 1),
}
LAYER_RE = re.compile(r"^(?:model\.)?layers\.(\d+)\.(.+)$")
TIKTOKEN_LINE = re.compile(rb"^[A-Za-z0-9+/]+=*\s+\d+\r?$")
MAX_CHECKLIST = 1024 * 1024
CHECKLIST_LINE = re.compile(r"^\\?([0-9a-fA-F]{32})\s[ *]?(.+?)\s*$")


def text_page_detail(head: bytes) -> str:
    """A short printable description of an HTML/XML body: its error code, its title, or its first line."""
    code = re.search(rb"<Code>([A-Za-z]{1,40})</Code>", head)
    if code:
        return f"an error page ({code.group(1).decode()})"
    title = re.search(rb"<title>([^<]{1,80})</title>", head, re.IGNORECASE)
    if title:
        return f"a web page ({title.group(1).decode('utf-8', 'replace').strip()})"
    line = head.lstrip().split(b"\n", 1)[0][:60]
    return "a web page (" + line.decode("ascii", "replace") + ")"


def classify_head(head: bytes, size: int) -> tuple[str, str] | None:
    """(kind, detail) for the failures any downloaded file can show, None when the head looks like data."""
    if size == 0:
        return "empty", "0 bytes"
    if head.startswith(LFS_MAGIC):
        return "lfs-pointer", "a Git LFS pointer, not the file"
    if head.lstrip()[:1] == b"<":
        return "html", text_page_detail(head)
    return None


# ---- weights -------------------------------------------------------------------------------------


def summarise_tensors(name: str, size: int, kind: str, tensors: dict[str, tuple[str, tuple[int, ...]]]) -> Shard:
    """Keep the facts small: non-layer shapes, layer 0's shapes, whether all layers agree with layer 0."""
    shapes: dict[str, tuple[int, ...]] = {}
    per_layer: dict[int, dict[str, tuple[int, ...]]] = {}
    largest = 0
    for key, (_, shape) in tensors.items():
        numel = 1
        for d in shape:
            numel *= d
        largest = max(largest, numel)
        match = LAYER_RE.match(key)
        if match:
            per_layer.setdefault(int(match.group(1)), {})[match.group(2)] = shape
        else:
            shapes[key] = shape
    first = per_layer.get(min(per_layer)) if per_layer else None
    if first is not None:
        shapes.update({f"layers.0.{k}": v for k, v in first.items()})
    uniform = all(layer == first for layer in per_layer.values())
    dtypes = tuple(sorted({d for d, _ in tensors.values()}))
    return Shard(name, size, kind, "", len(tensors), len(per_layer), dtypes, shapes, uniform, largest)


class RefusedObject(pickle.UnpicklingError):
    """The pickle asks for something that is not part of a tensor: code, or objects of other classes."""


# What to say of a checkpoint whose pickle asks for more than tensors. Never advise weights_only=False.
# Marked for translation here, translated where a message is made of them.
UNSAFE_PICKLE = N_("contains code or objects that are not tensors; refusing to load it (it may be unsafe)")
UNSAFE_PICKLE_FIX = N_("download the checkpoint again from Meta")


@dataclass(frozen=True)
class TensorRecord:
    dtype: str
    shape: tuple[int, ...]
    storage_key: str
    storage_numel: int
    itemsize: int


@dataclass(frozen=True)
class _StorageType:
    name: str


@dataclass(frozen=True)
class _Storage:
    dtype: str
    itemsize: int
    key: str
    numel: int


def _rebuild_tensor(storage: Any, offset: Any, shape: Any, *rest: Any) -> TensorRecord:
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("tensor without a storage")
    return TensorRecord(storage.dtype, tuple(int(d) for d in shape), storage.key, storage.numel, storage.itemsize)


def _rebuild_parameter(data: Any, *rest: Any) -> Any:
    return data


def _ordered_dict(*args: Any) -> dict[Any, Any]:
    return dict(*args)


class _RecordUnpickler(pickle.Unpickler):
    """Resolves only torch's tensor-rebuild names, to inert stand-ins; anything else is an error."""

    ALLOWED: ClassVar[dict[tuple[str, str], Callable[..., Any]]] = {
        ("collections", "OrderedDict"): _ordered_dict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        raise RefusedObject(f"refusing {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError("unexpected persistent id")
        _, storage_type, key, _location, numel = pid
        type_name = storage_type.name if isinstance(storage_type, _StorageType) else str(storage_type)
        dtype, itemsize = STORAGE_TYPES.get(type_name, (type_name.removesuffix("Storage").lower(), 0))
        return _Storage(dtype, itemsize, str(key), int(numel))


def read_tensor_records(data_pkl: bytes) -> dict[str, TensorRecord]:
    """Tensor name -> dtype/shape from a torch zip's data.pkl, without torch and without running any code."""
    obj = _RecordUnpickler(io.BytesIO(data_pkl)).load()
    return dict(_walk(obj, ""))


def _walk(obj: Any, prefix: str, depth: int = 0) -> Iterator[tuple[str, TensorRecord]]:
    if isinstance(obj, TensorRecord):
        yield prefix, obj
    elif isinstance(obj, dict) and depth < 4:
        for key, value in obj.items():
            yield from _walk(value, f"{prefix}.{key}" if prefix else str(key), depth + 1)


def safetensors_tensors(header: Any) -> tuple[dict[str, tuple[str, tuple[int, ...]]], int]:
    """name -> (dtype, shape), and where the last tensor's bytes end; TypeError when the header is not
    safetensors' `{name: {dtype, shape, data_offsets}}`."""
    if not isinstance(header, dict):
        raise TypeError(f"the header is a JSON {type(header).__name__}, not an object")
    tensors: dict[str, tuple[str, tuple[int, ...]]] = {}
    end = 0
    for key, value in header.items():
        if key == "__metadata__":
            continue
        if not isinstance(value, dict) or not isinstance(value.get("shape"), list):
            raise TypeError(f"{key!r} is not a tensor entry")
        tensors[key] = (str(value["dtype"]).lower(), tuple(int(d) for d in value["shape"]))
        end = max(end, int(value["data_offsets"][1]))
    return tensors, end


# ---- tokenizer -----------------------------------------------------------------------------------


def tokenizer_kind(data: bytes, *, whole: bool = True) -> tuple[str, int | None]:
    """("sentencepiece" | "tiktoken" | "unknown", words) of a tokenizer.model's bytes (`whole`: all of them)."""
    if TIKTOKEN_LINE.match(data.split(b"\n", 1)[0]):
        if not whole:
            return "tiktoken", None
        try:
            return "tiktoken", len(parse_tiktoken_ranks(data)) + 256
        except ValueError:
            return "unknown", None
    if data[:1] == b"\x0a":
        pieces = count_sentencepiece_pieces(data)
        if pieces:
            return "sentencepiece", pieces
    return "unknown", None


def parse_tiktoken_ranks(data: bytes) -> dict[bytes, int]:
    """tiktoken's `<base64 token> <rank>` lines as tiktoken reads them, checked first: tiktoken itself raises
    binascii errors for bad base64 and panics (in Rust) on repeated ranks. ValueError names the bad line."""
    ranks: dict[bytes, int] = {}
    seen: set[int] = set()
    for n, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            if len(parts) != 2:
                raise ValueError("not two fields")
            token, rank = base64.b64decode(parts[0], validate=True), int(parts[1])
        except (binascii.Error, ValueError):
            raise ValueError(f"line {n} is not `<base64 token> <rank>`") from None
        if not 0 <= rank < 2**31 or rank in seen or token in ranks:
            raise ValueError(f"line {n} repeats a token or a rank, or its rank is out of range")
        seen.add(rank)
        ranks[token] = rank
    if not ranks:
        raise ValueError("no ranks")
    return ranks


def count_sentencepiece_pieces(data: bytes) -> int | None:
    """Count field 1 (pieces) of a SentencePiece ModelProto; None if it is not a well-formed protobuf, or has no
    unknown piece (SentencePiece refuses such a model: `unk is not defined`)."""
    pos, count, has_unk = 0, 0, False
    while pos < len(data):
        tag, pos = _varint(data, pos)
        if tag is None:
            return None
        wire = tag & 7
        if wire == 2:
            length, pos = _varint(data, pos)
            if length is None or pos + length > len(data):
                return None
            if (tag >> 3) == 1:
                count += 1
                has_unk = has_unk or _piece_type(data[pos : pos + length]) == UNKNOWN_PIECE
            pos += length
        elif wire == 0:
            value, pos = _varint(data, pos)
            if value is None:
                return None
        elif wire == 5:
            pos += 4
        elif wire == 1:
            pos += 8
        else:
            return None
    return count if pos == len(data) and has_unk else None


def _piece_type(piece: bytes) -> int | None:
    """Field 3 (type) of a SentencePiece piece record: 1 normal (the default), 2 unknown, 3 control, 6 byte."""
    pos, kind = 0, 1
    while pos < len(piece):
        tag, pos = _varint(piece, pos)
        if tag is None:
            return None
        wire = tag & 7
        if wire == 0:
            value, pos = _varint(piece, pos)
            if value is None:
                return None
            kind = value if (tag >> 3) == 3 else kind
        elif wire == 2:
            length, pos = _varint(piece, pos)
            pos += length if length is not None else len(piece)
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            return None
    return kind


def _varint(data: bytes, pos: int) -> tuple[int | None, int]:
    result, shift = 0, 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    return None, pos


# ---- checklist.chk -------------------------------------------------------------------------------


def parse_checklist(data: bytes) -> tuple[list[tuple[str, str]], list[str]]:
    """(md5, name) pairs, and the lines that are neither that nor blank. Accepts CRLF, `*` marks, `./`."""
    entries: list[tuple[str, str]] = []
    bad: list[str] = []
    for raw in data.splitlines():
        line = raw.decode("utf-8", "replace").strip()
        if not line:
            continue
        match = CHECKLIST_LINE.match(line)
        if match:
            name = match.group(2)
            entries.append((match.group(1).lower(), name[2:] if name.startswith("./") else name))
        else:
            bad.append(line[:80])
    return entries, bad


def inside(name: str) -> bool:
    """A checklist name that stays inside the folder: relative, and no `..` that climbs out of it."""
    if not name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return False
    normal = posixpath.normpath(name.replace("\\", "/"))
    return normal != ".." and not normal.startswith("../")
