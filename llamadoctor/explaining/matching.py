"""Find the failures' signatures in a log of any size, with the same results as the reference matcher `search`.

Running every signature over every line of a 50 MB log would take minutes, so each signature is reduced to a
literal piece of text that any line it matches must contain (`Distributed package doesn't have NCCL built in`
for the NCCL error), and each literal to a short key starting at its rarest byte in this log. One regular
expression of all the keys, arranged as a trie, skips over the log at the speed of a byte-set test and stops
only on the few lines worth a closer look; only those lines are decoded, normalised and searched with the full
signatures. The log is kept as UTF-8 bytes: half the memory of text holding one wide character, and the
regular expressions run faster over it. A signature with no usable literal (case-insensitive, or made only of
classes and repeats) is searched over the whole decoded text, then confirmed on each line it hit.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any, Optional

from llamadoctor.failures.model import Failure, Hit, Signature, normalise

try:  # the parser behind `re`: public as sre_parse until 3.11, which deprecated that name
    import re._parser as _sre  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_parse as _sre  # type: ignore[no-redef]

MIN_LITERAL = 4  # shorter literals occur on too many lines to be worth a prefilter
KEY = 8  # bytes of a literal the prefilter looks for
_LINE_COST = 50
SAMPLE = 1 << 16  # bytes from each end of a log that tell which bytes are rare in it
# What `str.splitlines` breaks lines at besides "\n", in UTF-8: the reference matcher's lines are its lines.
_RARE_BREAKS = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")
_OTHER_BREAKS = re.compile(b"[\x0b\x0c\x1c\x1d\x1e]|\xc2\x85|\xe2\x80[\xa8\xa9]")
# Colour codes, as the reference strips them line by line: an unterminated one never swallows a line break.
_ANSI = re.compile(b"\x1b(?:\\[[0-9;?]*[ -/]*[@-~]|\\][^\x07\x1b\n\r\x0b\x0c\x1c-\x1e]*(?:\x07|\x1b\\\\))")


def canonical(data: bytes) -> bytes:
    """UTF-8 `data` with colour codes removed and every line break `splitlines` knows written as "\\n".

    Each substitution runs only when the log holds what it removes."""
    if b"\x1b" in data:
        data = _ANSI.sub(b"", data)
    if b"\r" in data:  # Windows line ends, progress bars: plain replaces are many times faster than a regex
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if any(mark in data for mark in _RARE_BREAKS):  # a regex search would read a clean log at a tenth the speed
        data = _OTHER_BREAKS.sub(b"\n", data)
    return data


class Log:
    """A log as canonical UTF-8 bytes, with its decoded text made only if a signature needs all of it."""

    def __init__(self, data: bytes) -> None:
        self.data = canonical(data)

    @classmethod
    def of_text(cls, text: str) -> Log:
        return cls(text.encode("utf-8", "surrogatepass"))

    @property
    def line_count(self) -> int:
        return self.data.count(b"\n") + (0 if self.data.endswith(b"\n") or not self.data else 1)

    @cached_property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    @cached_property
    def normalised(self) -> str:
        """The text as the reference sees it: each line normalised."""
        return "\n".join(normalise(line) for line in self.text.split("\n"))

    def line(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8", "replace")


def _literal_runs(items: Any, ignorecase: bool) -> Iterator[str]:
    """The runs of literal characters in a parsed expression, read in order; anything else ends a run."""
    run: list[str] = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL" and not ignorecase:
            run.append(chr(arg))
            continue
        if name == "SUBPATTERN" and not (arg[1] & re.IGNORECASE) and not ignorecase:
            # A group's content sits between its neighbours: a literal may continue through it.
            inner = list(_literal_runs(arg[-1], ignorecase))
            if len(inner) == 1 and _is_plain(arg[-1]):
                run.append(inner[0])
                continue
            yield "".join(run)
            yield from inner
            run = []
            continue
        yield "".join(run)
        run = []
    yield "".join(run)


def _is_plain(items: Any) -> bool:
    return all(str(op) == "LITERAL" or (str(op) == "SUBPATTERN" and _is_plain(arg[-1])) for op, arg in items)


@cache
def literals(pattern: str) -> tuple[str, ...]:
    """Texts one of which every match of `pattern` contains; () when no such text is long enough to help."""
    parsed = _sre.parse(pattern)
    ignorecase = bool(parsed.state.flags & re.IGNORECASE)
    items = list(parsed)
    if len(items) == 1 and str(items[0][0]) == "BRANCH":  # a top-level alternation: one literal per branch
        branches = [_best(_literal_runs(branch, ignorecase)) for branch in items[0][1][1]]
        return tuple(branches) if all(branches) else ()
    best = _best(_literal_runs(items, ignorecase))
    return (best,) if best else ()


def _best(runs: Iterable[str]) -> str:
    longest = max(runs, key=len, default="")
    return longest if len(longest) >= MIN_LITERAL else ""


def _trie_regex(words: Iterable[bytes]) -> bytes:
    """One expression matching any of `words`, as a trie: the regex engine tries one branch per byte instead
    of every word at every position, and skips bytes that start no word with a set test."""
    trie: dict[int, Any] = {}
    for word in words:
        node = trie
        for byte in word:
            node = node.setdefault(byte, {})
        node[-1] = {}
    return _trie_node(trie)


def _trie_node(node: dict[int, Any]) -> bytes:
    parts = [re.escape(bytes([byte])) + _trie_node(child) for byte, child in sorted(node.items()) if byte >= 0]
    if not parts:
        return b""
    body = parts[0] if len(parts) == 1 else b"(?:" + b"|".join(parts) + b")"
    return b"(?:" + body + b")?" if -1 in node else body  # a word ends here: the rest is optional


@dataclass(frozen=True)
class _Plan:
    """The signatures, split by how they are searched."""

    by_literal: tuple[tuple[Failure, Signature, tuple[bytes, ...]], ...]
    whole_text: tuple[tuple[Failure, Signature], ...]


_PLANS: dict[tuple[int, ...], tuple[tuple[Failure, ...], _Plan]] = {}


def _plan(failures: tuple[Failure, ...]) -> _Plan:
    """The plan for `failures`, made once per set of failures (the catalogue, or a test's own)."""
    key = tuple(map(id, failures))
    if key not in _PLANS:
        _PLANS[key] = (failures, _make_plan(failures))  # the failures are kept: their ids stay theirs
    return _PLANS[key][1]


def _make_plan(failures: tuple[Failure, ...]) -> _Plan:
    by_literal, whole_text = [], []
    for failure in failures:
        for signature in failure.signatures:
            found = literals(signature.pattern)
            if found:
                by_literal.append((failure, signature, tuple(w.encode("utf-8") for w in found)))
            else:
                whole_text.append((failure, signature))
    return _Plan(tuple(by_literal), tuple(whole_text))


def _key(word: bytes, trigrams: Counter[bytes], rarity: Counter[int]) -> bytes:
    """The piece of `word` that costs the scan least, judged on a sample of the log: the regex engine stops
    briefly at every byte that can start a key (so a rare first byte), and a key found sends its whole line to
    the signatures, which costs about `_LINE_COST` stops (so a rarely seen start)."""
    starts = range(max(0, len(word) - MIN_LITERAL) + 1)
    start = min(starts, key=lambda i: rarity[word[i]] + _LINE_COST * trigrams[word[i : i + 3]])
    return word[start : start + KEY]


@dataclass(frozen=True)
class _Prefilter:
    regex: re.Pattern[bytes]
    by_key: dict[bytes, list[tuple[Failure, Signature, tuple[bytes, ...]]]]  # the signatures each key stands for


def _prefilter(plan: _Plan, data: bytes) -> Optional[_Prefilter]:
    if not plan.by_literal:
        return None
    sample = data[:SAMPLE] + b"\n" + data[-SAMPLE:]
    rarity = Counter(sample)
    trigrams = Counter(sample[i : i + 3] for i in range(len(sample) - 2))
    keys = {w: _key(w, trigrams, rarity) for _, _, found in plan.by_literal for w in found}
    by_key: dict[bytes, list[tuple[Failure, Signature, tuple[bytes, ...]]]] = {}
    for entry in plan.by_literal:
        for key in dict.fromkeys(keys[w] for w in entry[2]):
            by_key.setdefault(key, []).append(entry)
    return _Prefilter(re.compile(_trie_regex(by_key)), by_key)


class _Lines:
    """Line numbers of a canonical log, found from positions in increasing order."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._pos, self._number = 0, 1

    def at(self, pos: int) -> tuple[int, int, int]:
        """(line number, start, end) of the line holding `pos`; positions must not go backwards."""
        start = self.data.rfind(b"\n", 0, pos) + 1
        end = self.data.find(b"\n", pos)
        end = len(self.data) if end < 0 else end
        self._number += self.data.count(b"\n", self._pos, start)
        self._pos = start
        return self._number, start, end


def find(failures: Sequence[Failure], log: Log) -> list[Hit]:
    """Every signature of `failures` found in `log`, in line order: what `search` returns, found faster."""
    plan = _plan(tuple(failures))
    hits = list(_prefiltered(plan, log)) + list(_whole_text(plan, log))
    hits = [h for h in hits if _near_holds(h.signature, log)]
    order = {(id(f), id(s)): n for n, (f, s) in enumerate((f, s) for f in failures for s in f.signatures)}
    return sorted(hits, key=lambda h: (h.line_number, order[(id(h.failure), id(h.signature))]))


def _prefiltered(plan: _Plan, log: Log) -> Iterator[Hit]:
    data = log.data
    prefilter = _prefilter(plan, data)
    if prefilter is None:
        return
    lines, pos = _Lines(data), 0
    while True:
        found = prefilter.regex.search(data, pos)
        if found is None:
            return
        number, start, end = lines.at(found.start())
        raw = data[start:end]
        line = None
        for failure, signature, words in _entries(prefilter, raw):
            if any(word in raw for word in words):
                line = normalise(log.line(start, end)) if line is None else line
                hit = _hit(failure, signature, number, line)
                if hit is not None:
                    yield hit
        pos = end + 1


def _entries(prefilter: _Prefilter, raw: bytes) -> list[tuple[Failure, Signature, tuple[bytes, ...]]]:
    """The signatures whose keys occur in a line, each once: every position a key starts at (overlapping), and
    at each every key the match begins with (the trie matches the longest)."""
    found: dict[int, tuple[Failure, Signature, tuple[bytes, ...]]] = {}
    match = prefilter.regex.search(raw)
    while match is not None:
        text = match.group()
        for size in range(1, len(text) + 1):
            for entry in prefilter.by_key.get(text[:size], ()):
                found.setdefault(id(entry[1]), entry)
        match = prefilter.regex.search(raw, match.start() + 1)
    return list(found.values())


def _whole_text(plan: _Plan, log: Log) -> Iterator[Hit]:
    if not plan.whole_text:
        return
    lines = log.normalised.split("\n")
    for failure, signature in plan.whole_text:
        for number, line in enumerate(lines, 1):
            hit = _hit(failure, signature, number, line)
            if hit is not None:
                yield hit


def _hit(failure: Failure, signature: Signature, number: int, line: str) -> Optional[Hit]:
    found = signature.regex.search(line)
    if not found:
        return None
    values = {k: v for k, v in found.groupdict().items() if v is not None}
    return Hit(failure, signature, number, line, values)


def _near_holds(signature: Signature, log: Log) -> bool:
    if signature.near_regex is None:
        return True
    # A rank prefix can only hide a match anchored at a line's start: only then is every line normalised.
    text = log.normalised if "^" in signature.near or "\\A" in signature.near else log.text
    return bool(signature.near_regex.search(text))
