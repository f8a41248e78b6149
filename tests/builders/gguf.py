"""GGUF and GGML-family headers written byte by byte, as llama.cpp's converters lay them out."""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Union

Value = Union[str, int, float, bool, Sequence[str], Sequence[int]]

UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64 = 4, 5, 6, 7, 8, 9, 10


def _count(n: int, version: int) -> bytes:
    return struct.pack("<Q" if version >= 2 else "<I", n)


def _string(text: str, version: int) -> bytes:
    data = text.encode()
    return _count(len(data), version) + data


def _value(value: Value, version: int) -> tuple[int, bytes]:
    if isinstance(value, bool):
        return BOOL, struct.pack("<?", value)
    if isinstance(value, int):
        return UINT32, struct.pack("<I", value)
    if isinstance(value, float):
        return FLOAT32, struct.pack("<f", value)
    if isinstance(value, str):
        return STRING, _string(value, version)
    items = list(value)
    if items and isinstance(items[0], str):
        body = b"".join(_string(str(s), version) for s in items)
        return ARRAY, struct.pack("<I", STRING) + _count(len(items), version) + body
    body = b"".join(struct.pack("<i", int(i)) for i in items)
    return ARRAY, struct.pack("<I", INT32) + _count(len(items), version) + body


def gguf_bytes(
    metadata: Mapping[str, Value],
    tensors: Mapping[str, tuple[int, ...]] = {},
    *,
    version: int = 3,
) -> bytes:
    """A GGUF header with `metadata` and tensor infos of these shapes (no tensor data: the probe never reads it)."""
    out = [b"GGUF", struct.pack("<I", version), _count(len(tensors), version), _count(len(metadata), version)]
    for key, value in metadata.items():
        kind, body = _value(value, version)
        out += [_string(key, version), struct.pack("<I", kind), body]
    offset = 0
    for name, dims in tensors.items():
        out += [_string(name, version), struct.pack("<I", len(dims))]
        out += [struct.pack("<Q" if version >= 2 else "<I", d) for d in dims]
        out += [struct.pack("<I", 1), struct.pack("<Q", offset)]
        offset += 32
    return b"".join(out)


def llama_gguf(
    path: Path,
    *,
    tokens: int = 256,
    rows: int = 256,
    pre: str = "llama-bpe",
    vocab_size: int | None = None,
    version: int = 3,
) -> Path:
    """A small Llama GGUF whose tokenizer has `tokens` entries and whose embedding has `rows` rows."""
    metadata: dict[str, Value] = {
        "general.architecture": "llama",
        "general.name": "tiny llama",
        "llama.context_length": 8192,
        "llama.embedding_length": 64,
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": pre,
        "tokenizer.ggml.tokens": [f"t{i}" for i in range(tokens)],
        "tokenizer.ggml.token_type": [1] * tokens,
        "tokenizer.ggml.merges": ["t 1", "t 2"],
    }
    if vocab_size is not None:
        metadata["llama.vocab_size"] = vocab_size
    tensors = {"output_norm.weight": (64,), "token_embd.weight": (64, rows), "output.weight": (64, rows)}
    path.write_bytes(gguf_bytes(metadata, tensors, version=version))
    return path


def ggml_file(path: Path, magic: bytes = b"tjgg", version: int = 3) -> Path:
    """An old GGML-family file: the magic as the little-endian integer those converters wrote, then hparams."""
    path.write_bytes(magic + struct.pack("<I", version) + struct.pack("<7i", 32000, 4096, 256, 32, 32, 128, 2))
    return path
