"""Tell what weights and tokenizer files on disk are, without torch, sentencepiece or tiktoken and without
their data: only a zip's central directory and `data.pkl`, or a safetensors header, are read."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import struct
import zipfile
from pathlib import Path

from llamadoctor.files import TOKENIZER_LIBRARIES, Shard, Tokenizer
from llamadoctor.formats import (
    HEAD_BYTES,
    MAX_PICKLE,
    MAX_SAFETENSORS_HEADER,
    MAX_TOKENIZER,
    MAX_TOKENIZER_JSON,
    UNSAFE_PICKLE,
    RefusedObject,
    classify_head,
    read_tensor_records,
    safetensors_tensors,
    summarise_tensors,
    tokenizer_kind,
)
from llamadoctor.reading import open_regular, read_regular, reason


def _read_head(path: Path, n: int = HEAD_BYTES) -> bytes:
    return read_regular(path, n)


# ---- weights ------------------------------------------------------------------------------------------


def sniff_weights(path: Path, size: int) -> Shard:
    """What a weights file is, for `.pth`/`.bin` (torch zip) and `.safetensors`. Never raises."""
    name = path.name
    try:
        head = _read_head(path)
        bad = classify_head(head, size)
        if bad:
            return Shard(name, size, bad[0], bad[1])
        if name.endswith(".safetensors"):
            return _sniff_safetensors(path, name, size, head)
        if head.startswith(b"PK\x03\x04"):
            return _sniff_torch_zip(path, name, size)
        if head[:2] == b"\x80\x02":
            return Shard(name, size, "legacy-pickle", "the pre-1.6 torch format")
        return Shard(name, size, "unknown", f"starts with {head[:8]!r}, not a torch zip")
    except OSError as exc:
        return Shard(name, size, "unreadable", reason(exc))
    except Exception as exc:  # whatever the bytes make a parser do is a fact about this file
        return Shard(name, size, "unknown", f"cannot be read as weights ({type(exc).__name__}: {exc})"[:300])


def _sniff_torch_zip(path: Path, name: str, size: int) -> Shard:
    try:
        with open_regular(path) as f, zipfile.ZipFile(f) as archive:
            infos = {i.filename: i for i in archive.infolist()}
            pkl = next((n for n in infos if n.endswith("data.pkl")), None)
            if pkl is None:
                return Shard(name, size, "unknown", "a zip without data.pkl: not a torch checkpoint")
            for info in infos.values():  # a central directory that promises bytes past the end of the file
                if info.header_offset + info.compress_size > size:
                    return Shard(name, size, "truncated", f"{info.filename} runs past the end of the file")
            if infos[pkl].file_size > MAX_PICKLE:
                return Shard(name, size, "zip", "data.pkl too large to read")
            raw = archive.read(pkl)
    except zipfile.BadZipFile as exc:
        return Shard(name, size, "truncated", f"no zip central directory ({exc})")
    except (EOFError, zipfile.LargeZipFile, ValueError) as exc:
        return Shard(name, size, "truncated", str(exc))
    prefix = pkl[: -len("data.pkl")]
    try:
        records = read_tensor_records(raw)
    except RefusedObject:
        return Shard(name, size, "unsafe", UNSAFE_PICKLE)
    except Exception as exc:  # a damaged or foreign pickle: report it, never run it
        detail = f"data.pkl does not describe tensors ({type(exc).__name__}: {exc})"
        return Shard(name, size, "unknown", detail)
    for key, rec in records.items():
        member = infos.get(f"{prefix}data/{rec.storage_key}")
        if member is None:
            return Shard(name, size, "truncated", f"{key}'s data is missing from the zip")
        if rec.itemsize and member.file_size < rec.storage_numel * rec.itemsize:
            return Shard(name, size, "truncated", f"{key}'s data is shorter than its storage")
    return summarise_tensors(name, size, "zip", {k: (r.dtype, r.shape) for k, r in records.items()})


def _sniff_safetensors(path: Path, name: str, size: int, head: bytes) -> Shard:
    if len(head) < 8:
        return Shard(name, size, "truncated", "shorter than a safetensors header")
    (n,) = struct.unpack("<Q", head[:8])
    if n > MAX_SAFETENSORS_HEADER or 8 + n > size:
        return Shard(
            name,
            size,
            "truncated" if n <= MAX_SAFETENSORS_HEADER else "unknown",
            f"header length {n} does not fit in {size} bytes",
        )
    with open_regular(path) as f:
        f.seek(8)
        raw = f.read(n)
    try:
        tensors, end = safetensors_tensors(json.loads(raw))
    except RecursionError:
        return Shard(name, size, "unknown", "unreadable safetensors header (nested too deeply)")
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return Shard(name, size, "unknown", f"unreadable safetensors header ({type(exc).__name__}: {exc})"[:300])
    if 8 + n + end > size:
        return Shard(name, size, "truncated", f"its tensors need {8 + n + end} bytes, the file has {size}")
    return summarise_tensors(name, size, "safetensors", tensors)


# ---- tokenizer ----------------------------------------------------------------------------------------


def sniff_tokenizer(path: Path, size: int, *, in_parent: bool = False) -> Tokenizer:
    """SentencePiece (a protobuf: Llama 1/2, Code Llama) or tiktoken (base64 ranks: Llama 3); never raises."""
    try:
        head = _read_head(path)
        bad = classify_head(head, size)
        if bad:
            return Tokenizer(str(path), size, bad[0], in_parent=in_parent)
        data = read_regular(path, MAX_TOKENIZER) if size <= MAX_TOKENIZER else head
    except OSError:
        return Tokenizer(str(path), size, "unreadable", in_parent=in_parent)
    kind, words = tokenizer_kind(data, whole=size <= MAX_TOKENIZER)
    return Tokenizer(str(path), size, kind, words, in_parent)


def sniff_tokenizer_json(path: Path, size: int) -> Tokenizer:
    """A Hugging Face tokenizer.json: Llama 1/2's pieces (<s>, </s>) or Llama 3's byte-level BPE
    (<|begin_of_text|>), and how many tokens it has with its added ones; never raises."""
    try:
        head = _read_head(path)
        bad = classify_head(head, size)
        if bad:
            return Tokenizer(str(path), size, bad[0])
        if size > MAX_TOKENIZER_JSON:
            return Tokenizer(str(path), size, "unknown")
        data = json.loads(read_regular(path, MAX_TOKENIZER_JSON).decode("utf-8"))
    except OSError:
        return Tokenizer(str(path), size, "unreadable")
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past what Python parses
        return Tokenizer(str(path), size, "unknown")
    model = data.get("model") if isinstance(data, dict) else None
    vocab = model.get("vocab") if isinstance(model, dict) else None
    if not isinstance(vocab, dict):
        return Tokenizer(str(path), size, "unknown")
    added = [t.get("content") for t in data.get("added_tokens") or () if isinstance(t, dict)]
    tokens = set(vocab) | {t for t in added if isinstance(t, str)}
    if {"<|begin_of_text|>", "<|end_of_text|>"} <= tokens:
        kind = "tiktoken"
    elif {"<s>", "</s>"} <= tokens:
        kind = "sentencepiece"
    else:
        kind = "unknown"
    return Tokenizer(str(path), size, kind, len(tokens))


def sniff_tokenizer_at(path: Path, *, in_parent: bool = False) -> Tokenizer:
    """tokenizer.model or tokenizer.json, with the library that reads it and whether this Python has it."""
    try:
        size = path.stat().st_size
    except OSError:
        return Tokenizer(str(path), 0, "unreadable", in_parent=in_parent)
    if path.name == "tokenizer.json":
        tokenizer, library = sniff_tokenizer_json(path, size), TOKENIZER_LIBRARIES["tokenizer.json"]
    else:
        tokenizer = sniff_tokenizer(path, size, in_parent=in_parent)
        library = TOKENIZER_LIBRARIES.get(tokenizer.kind, "")
    missing = bool(library) and importlib.util.find_spec(library) is None
    return dataclasses.replace(tokenizer, library=library, library_missing=missing)
