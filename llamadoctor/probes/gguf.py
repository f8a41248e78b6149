"""GGUF and older GGML-family model files, read from their header without loading any tensor."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Callable, Optional

from llamadoctor.facts import ModelFile

# The first four bytes of each format as they sit in the file (the old formats wrote a little-endian integer).
MAGICS = {b"GGUF": "gguf", b"lmgg": "ggml", b"fmgg": "ggmf", b"tjgg": "ggjt"}
SUFFIXES = (".gguf", ".bin", ".ggml")
# Keys the checks read, and the tensor whose shape says how many tokens the weights have.
WANTED = ("general.architecture", "tokenizer.ggml.pre", "tokenizer.ggml.tokens")
EMBEDDING = "token_embd.weight"
# A header larger than this is not one a real converter wrote (Llama 3's tokens and merges take ~8 MB).
MAX_HEADER = 256 * 1024 * 1024
MAX_ITEMS = 10_000_000
_FIXED = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


class HeaderError(ValueError):
    pass


class _Reader:
    """Reads the header from a buffer refilled a chunk at a time: the tokens and merges arrays hold hundreds
    of thousands of short strings, too many for one read call each."""

    CHUNK = 1 << 20

    def __init__(self, stream: BinaryIO, version: int) -> None:
        self.stream = stream
        self.wide = version >= 2  # v1 wrote counts and string lengths as 32-bit
        self.buffer = b""
        self.pos = 0
        self.consumed = 0  # bytes dropped from the front of the buffer

    def _need(self, n: int) -> None:
        if self.consumed + self.pos + n > MAX_HEADER:
            raise HeaderError(f"header longer than {MAX_HEADER // 2**20} MiB")
        while len(self.buffer) - self.pos < n:
            more = self.stream.read(max(self.CHUNK, n))
            if not more:
                raise HeaderError("the file ends inside its header (a truncated download?)")
            self.consumed += self.pos
            self.buffer = self.buffer[self.pos :] + more
            self.pos = 0

    def take(self, n: int) -> bytes:
        self._need(n)
        data = self.buffer[self.pos : self.pos + n]
        self.pos += n
        return data

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        self._need(size)
        value = struct.unpack_from(fmt, self.buffer, self.pos)[0]
        self.pos += size
        return value

    def count(self) -> int:
        n = int(self.unpack("<Q" if self.wide else "<I"))
        if n > MAX_ITEMS:
            raise HeaderError(f"implausible count {n}")
        return n

    def string(self) -> str:
        return self.take(self.count()).decode("utf-8", "replace")

    def skip(self, n: int) -> None:
        self._need(n)
        self.pos += n

    def skip_strings(self, n: int) -> None:
        """Skip `n` length-prefixed strings: a tight loop over the buffer, refilled only at its end."""
        size = 8 if self.wide else 4
        length_at = struct.Struct("<Q" if self.wide else "<I").unpack_from
        while n:
            buffer, pos, end = self.buffer, self.pos, len(self.buffer)
            while n and pos + size <= end:
                step = size + length_at(buffer, pos)[0]
                if pos + step > end:
                    break
                pos += step
                n -= 1
            self.pos = pos
            if n:  # the next string crosses the buffer's end
                self._need(size)
                self._need(size + length_at(self.buffer, self.pos)[0])

    def value(self, kind: int) -> Any:
        """One value; arrays are skipped and only their length returned."""
        if kind in _FIXED:
            return self.unpack(_FIXED[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item, n = int(self.unpack("<I")), self.count()
            if item in _FIXED:
                self.skip(struct.calcsize(_FIXED[item]) * n)
            elif item == _STRING:
                self.skip_strings(n)
            else:
                for _ in range(n):
                    self.value(item)
            return n
        raise HeaderError(f"unknown value type {kind}")

    def dims(self) -> tuple[int, ...]:
        n = int(self.unpack("<I"))
        if n > 8:
            raise HeaderError(f"implausible tensor rank {n}")
        return tuple(int(self.unpack("<Q" if self.wide else "<I")) for _ in range(n))


def read_model_file(path: Path, named: bool = False) -> Optional[ModelFile]:
    """The header facts of a GGUF/GGML file, or None when `path` is not one (a torch .bin, say) unless the
    user `named` it: then it is reported as "unknown" with its magic."""
    try:
        with path.open("rb") as stream:
            magic = stream.read(4)
            fmt = MAGICS.get(magic)
            if fmt is None:
                return ModelFile(str(path), "unknown", magic.hex()) if named else None
            version_bytes = stream.read(4)
            version = struct.unpack("<I", version_bytes)[0] if len(version_bytes) == 4 else None
            base = ModelFile(str(path), fmt, magic.hex(), version)
            if fmt != "gguf" or version is None:
                return base
            return _gguf(stream, base, version)
    except OSError as exc:
        return ModelFile(str(path), "unknown", error=f"cannot read: {exc.strerror or exc}")


def _gguf(stream: BinaryIO, base: ModelFile, version: int) -> ModelFile:
    reader = _Reader(stream, version)
    found: dict[str, Any] = {}
    try:
        tensors, pairs = reader.count(), reader.count()
        for _ in range(pairs):
            key = reader.string()
            value = reader.value(int(reader.unpack("<I")))
            if key in WANTED or key.endswith(".vocab_size"):
                found[key] = value
        for _ in range(tensors):
            name = reader.string()
            dims = reader.dims()
            reader.skip(4 + 8)  # type, offset
            if name == EMBEDDING:
                # ggml lists the fastest-varying dimension first: (hidden, vocabulary)
                found[EMBEDDING] = dims[-1] if len(dims) == 2 else None
                break
    except HeaderError as exc:
        return _with(base, found, str(exc))
    return _with(base, found, None)


def _vocab_key(found: dict[str, Any]) -> str:
    return f"{found.get('general.architecture', 'llama')}.vocab_size"


def _with(base: ModelFile, found: dict[str, Any], error: Optional[str]) -> ModelFile:
    def text(key: str) -> Optional[str]:
        return found[key] if isinstance(found.get(key), str) else None

    def number(key: str) -> Optional[int]:
        value = found.get(key)
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else None

    return ModelFile(
        base.path,
        base.format,
        base.magic,
        base.version,
        architecture=text("general.architecture"),
        pre_tokenizer=text("tokenizer.ggml.pre"),
        token_count=number("tokenizer.ggml.tokens"),
        vocab_size=number(_vocab_key(found)),
        embedding_rows=number(EMBEDDING),
        error=error,
    )


def candidates(folder: Path) -> Iterator[Path]:
    """Files in `folder` (not below) that may be GGUF/GGML by name."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.suffix.lower() in SUFFIXES and entry.is_file():
            yield entry


def probe_model_files(
    files: Iterable[Path], folders: Iterable[Path], read: Callable[..., Optional[ModelFile]] = read_model_file
) -> tuple[ModelFile, ...]:
    """The files named, each read whatever it is called, then the GGUF/GGML files inside `folders`."""
    seen: set[str] = set()
    out: list[ModelFile] = []
    for path in list(files):
        out.append(read(path, named=True) or ModelFile(str(path), "unknown"))
        seen.add(str(path))
    for folder in folders:
        for path in candidates(folder):
            if str(path) in seen:
                continue
            seen.add(str(path))
            header = read(path)
            if header is not None:
                out.append(header)
    return tuple(out)
