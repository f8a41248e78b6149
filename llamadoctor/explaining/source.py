"""A log as text, whatever wrote it: UTF-8, UTF-16 with or without a byte order mark (PowerShell's `>` writes
UTF-16LE with one), bytes that decode to nothing (replaced), any size up to `MAX_BYTES`."""

from __future__ import annotations

import codecs
from typing import BinaryIO

CHUNK = 1 << 20
MAX_BYTES = 1 << 30
_SNIFF = 4096
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class TooLarge(ValueError):
    """The input goes on past MAX_BYTES (a device, or a log far larger than any a run writes)."""


def encoding_of(head: bytes) -> tuple[str, int]:
    """The encoding of a text starting with `head`, and the length of its byte order mark."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name, len(bom)
    sample = head[: _SNIFF - _SNIFF % 2]
    if len(sample) >= 2:
        # ASCII text in UTF-16 has a NUL in every other byte; UTF-8 text has none.
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        half = len(sample) // 2
        if odd > half * 0.3 and even < half * 0.05:
            return "utf-16-le", 0
        if even > half * 0.3 and odd < half * 0.05:
            return "utf-16-be", 0
    return "utf-8", 0


def read_text(stream: BinaryIO, limit: int = MAX_BYTES) -> str:
    """All of `stream` decoded, read a chunk at a time so that the bytes and the text are never both whole."""
    head = stream.read(_SNIFF)
    name, skip = encoding_of(head)
    decoder = codecs.getincrementaldecoder(name)(errors="replace")
    parts, size = [decoder.decode(head[skip:])], len(head)
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"is larger than {limit // (1 << 20)} MB")
        parts.append(decoder.decode(chunk))
    parts.append(decoder.decode(b"", final=True))
    return "".join(parts)
