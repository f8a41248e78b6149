"""A log as UTF-8 bytes, whatever wrote it: UTF-8, UTF-16 with or without a byte order mark (PowerShell's `>`
writes UTF-16LE with one), bytes that decode to nothing (replaced when a line is decoded), any size up to
`MAX_BYTES`."""

from __future__ import annotations

import codecs
from typing import BinaryIO, Callable

from llamadoctor.explaining.matching import canonical

MAX_BYTES = 512 << 20
CHUNK = 4 << 20
# A line longer than this is cut where a chunk ends (a colour code split there may then stay in the text).
_LONGEST_LINE = 64 << 20
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

    def __init__(self, limit: int) -> None:
        self.megabytes = limit // (1 << 20)
        super().__init__(f"is larger than {self.megabytes} MB")


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
    """All of `stream` as canonical UTF-8 bytes (see `matching.canonical`); invalid bytes stay, to be replaced
    line by line when decoded.

    Read and made canonical a chunk at a time, cut after a line break (where no colour code or CRLF can be
    split): memory stays about twice the log's size, however large."""
    head = stream.read(_SNIFF)
    name, skip = encoding_of(head)
    transcode = _transcoder(name)
    parts: list[bytes] = []
    carry, size, raw = b"", len(head), head[skip:]
    while True:
        more = stream.read(CHUNK)
        size += len(more)
        if size > limit:
            raise TooLarge(limit)
        data = carry + transcode(raw, not more)
        cut = data.rfind(b"\n") + 1 if more and len(data) < _LONGEST_LINE else len(data)
        parts.append(canonical(data[:cut]))
        carry = data[cut:]
        if not more:
            return b"".join(parts)
        raw = more


def _transcoder(name: str) -> Callable[[bytes, bool], bytes]:
    """UTF-8 bytes from bytes in `name`, fed chunk by chunk (a character may straddle two chunks)."""
    if name == "utf-8":
        return lambda chunk, final: chunk
    decoder = codecs.getincrementaldecoder(name)(errors="replace")
    return lambda chunk, final: decoder.decode(chunk, final).encode("utf-8", "surrogatepass")
