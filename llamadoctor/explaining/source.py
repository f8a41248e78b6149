"""A log as text, whatever wrote it: UTF-8, UTF-16 with or without a byte order mark (PowerShell's `>` writes
UTF-16LE with one), bytes that decode to nothing (replaced), any size up to `MAX_BYTES`."""

from __future__ import annotations

import codecs
from typing import BinaryIO

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


def read_utf8(stream: BinaryIO, limit: int = MAX_BYTES) -> bytes:
    """All of `stream` as UTF-8 bytes (invalid bytes stay, to be replaced line by line when decoded).

    A UTF-8 log is kept as it was read: one copy, however large. Other encodings are transcoded."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"is larger than {limit // (1 << 20)} MB")
    name, skip = encoding_of(data[:_SNIFF])
    if name == "utf-8":
        return data[skip:] if skip else data
    return data[skip:].decode(name, "replace").encode("utf-8", "surrogatepass")
