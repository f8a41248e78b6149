"""Llama tokenizers behind one interface: SentencePiece (Llama 1/2) and tiktoken BPE (Llama 3.x).

Both ship as `tokenizer.model`; the format is told apart by sniffing, because a Llama 3 file handed to
SentencePiece fails with the cryptic `could not parse ModelProto`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from llamadoctor.formats import MAX_TOKENIZER, parse_tiktoken_ranks
from llamadoctor.i18n import N_, _
from llamadoctor.reading import display, is_interruption, read_regular, reason
from llamadoctor.runner.errors import RunError

SENTENCEPIECE, TIKTOKEN, LFS_POINTER, UNKNOWN = "sentencepiece", "tiktoken", "lfs-pointer", "unknown"

NEITHER = N_("{path} is neither a SentencePiece nor a tiktoken tokenizer ({error})")
_TIKTOKEN_LINE = re.compile(rb"^[A-Za-z0-9+/]+=* \d+\r?$")

# Llama 3.1's names for the 256 special tokens after the base vocabulary (Llama 3.0 calls some "reserved").
LLAMA3_SPECIALS = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>",
    "<|step_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
] + [f"<|reserved_special_token_{i}|>" for i in range(2, 247)]
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


class Tokenizer(Protocol):
    kind: str
    n_words: int
    bos_id: int
    eos_id: int
    stop_ids: frozenset[int]

    def encode(self, text: str, bos: bool, eos: bool) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...

    def special_id(self, name: str) -> int: ...


def sniff(path: Path) -> str:
    """Which tokenizer format a file holds, from its first bytes."""
    return _kind(_read(path, 256))


def _read(path: Path, limit: int) -> bytes:
    try:
        return read_regular(path, limit)
    except FileNotFoundError:
        raise RunError(
            _("tokenizer not found: {path}").format(path=display(path)),
            _("pass --tokenizer-path to the tokenizer.model"),
        ) from None
    except OSError as exc:
        raise RunError(
            # TRANSLATORS: {reason} is the operating system's reason (e.g. permission denied).
            _("cannot read {path}: {reason}").format(path=display(path), reason=reason(exc)),
            _("download tokenizer.model again"),
        ) from None


def _kind(head: bytes) -> str:
    if head.startswith(b"version https://git-lfs"):
        return LFS_POINTER
    first = head.split(b"\n", 1)[0]
    if _TIKTOKEN_LINE.match(first):
        return TIKTOKEN
    # A SentencePiece ModelProto starts with field 1 (pieces), wire type 2: tag byte 0x0A.
    return SENTENCEPIECE if head[:1] == b"\n" else UNKNOWN


class SentencePieceTokenizer:
    kind = SENTENCEPIECE

    def __init__(self, model: bytes) -> None:
        from sentencepiece import SentencePieceProcessor

        # From the bytes, not the path: SentencePiece cannot open a path whose name is not UTF-8.
        self.sp = SentencePieceProcessor(model_proto=model)
        self.n_words = int(self.sp.vocab_size())
        self.bos_id, self.eos_id = int(self.sp.bos_id()), int(self.sp.eos_id())
        self.stop_ids = frozenset({self.eos_id})

    def encode(self, text: str, bos: bool, eos: bool) -> list[int]:
        ids: list[int] = self.sp.encode(text)
        return [self.bos_id] * bos + ids + [self.eos_id] * eos

    def decode(self, ids: list[int]) -> str:
        return str(self.sp.decode(ids))

    def special_id(self, name: str) -> int:
        token = int(self.sp.piece_to_id(name))
        # SentencePiece answers an unknown piece with <unk>'s id rather than an error.
        if token == self.sp.unk_id() and name != self.sp.id_to_piece(token):
            raise missing_special(name)
        return token


def missing_special(name: str) -> RunError:
    return RunError(
        _("the tokenizer has no {token} token").format(token=name), _("use the tokenizer that came with this model")
    )


def _split_long_runs(text: str, limit: int = 25_000) -> Iterator[str]:
    """Cut runs of >limit whitespace or non-whitespace characters, that make tiktoken panic (as Meta does)."""
    start, run, in_space = 0, 0, False
    for i, ch in enumerate(text):
        space = ch.isspace()
        run = run + 1 if space == in_space else 1
        in_space = space
        if run > limit:
            yield text[start:i]
            start, run = i, 1
    yield text[start:]


class TiktokenTokenizer:
    kind = TIKTOKEN

    def __init__(self, ranks: dict[bytes, int], name: str = "llama3") -> None:
        import tiktoken

        base = len(ranks)
        self.specials = {tok: base + i for i, tok in enumerate(LLAMA3_SPECIALS)}
        self.enc = tiktoken.Encoding(
            name=name, pat_str=LLAMA3_PATTERN, mergeable_ranks=ranks, special_tokens=self.specials
        )
        self.n_words = base + len(LLAMA3_SPECIALS)
        self.bos_id, self.eos_id = self.specials["<|begin_of_text|>"], self.specials["<|end_of_text|>"]
        self.stop_ids = frozenset(self.specials[t] for t in ("<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"))

    @classmethod
    def from_file(cls, path: Path) -> TiktokenTokenizer:
        return cls(parse_tiktoken_ranks(_read(path, MAX_TOKENIZER)), name=path.name)

    def encode(self, text: str, bos: bool, eos: bool) -> list[int]:
        ids: list[int] = []
        for i in range(0, len(text), 400_000):
            for piece in _split_long_runs(text[i : i + 400_000]):
                # Special-token text in user input stays plain text, as in Meta's reference.
                ids.extend(self.enc.encode(piece, allowed_special=set(), disallowed_special=()))
        return [self.bos_id] * bos + ids + [self.eos_id] * eos

    def decode(self, ids: list[int]) -> str:
        return self.enc.decode(ids)

    def special_id(self, name: str) -> int:
        return self.specials[name]


def load(path: Path) -> Tokenizer:
    """Open a tokenizer file, or raise RunError naming what is wrong with it (never a library's traceback:
    a garbage file can make the Rust libraries panic)."""
    data = _read(path, MAX_TOKENIZER + 1)
    if len(data) > MAX_TOKENIZER:
        raise RunError(
            _("{path} is too large to be a tokenizer").format(path=display(path)), _("download tokenizer.model again")
        )
    again = _("download {name} again").format(name=path.name)
    if not data:  # SentencePiece takes empty bytes as "no model" and fails only at the first encode
        raise RunError(_("{path} is empty (0 bytes)").format(path=display(path)), again)
    try:
        return _load(path, data)
    except RunError:
        raise
    except BaseException as exc:  # a Rust panic (pyo3's PanicException) is a BaseException
        if is_interruption(exc):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        # TRANSLATORS: {error} is the first line of the tokenizer library's own error message.
        what = _("{path} is not a Llama tokenizer.json ({error})") if path.name == "tokenizer.json" else _(NEITHER)
        raise RunError(what.format(path=display(path), error=first), again) from None


def _load(path: Path, data: bytes) -> Tokenizer:
    if path.name == "tokenizer.json":
        from llamadoctor.runner.hf_tokenizer import HFTokenizer

        return HFTokenizer(path)
    kind = _kind(data[:256])
    if kind == LFS_POINTER:
        raise RunError(
            _("{path} is a Git LFS pointer, not the tokenizer").format(path=display(path)),
            _("run `git lfs pull` in the model folder"),
        )
    if kind == TIKTOKEN:
        return TiktokenTokenizer(parse_tiktoken_ranks(data), name=path.name)
    return SentencePieceTokenizer(data)
