"""Find the failures' signatures in a log of any size, with the same results as the reference matcher `search`.

Running every signature over every line of a 50 MB log would take minutes, so each signature is reduced to a
literal piece of text that any line it matches must contain (`Distributed package doesn't have NCCL built in`
for the NCCL error). One regular expression made of all those literals, arranged as a trie, finds the few lines
worth a closer look in one pass; only those lines are normalised and searched with the full signatures.
A signature with no usable literal (case-insensitive, or made only of classes and repeats) is searched over the
whole text, then confirmed on each line it hit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Optional

from llamadoctor.failures.model import Failure, Hit, Signature, normalise

try:  # the parser behind `re`: public as sre_parse until 3.11, which deprecated that name
    import re._parser as _sre  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_parse as _sre  # type: ignore[no-redef]

MIN_LITERAL = 4  # shorter literals occur on too many lines to be worth a prefilter
# What `str.splitlines` breaks lines at, besides "\n": the reference matcher's lines are its lines.
_OTHER_BREAKS = re.compile("\r\n?|[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# The reference strips colour codes line by line: an unterminated one never swallows a line break here either.
_ANSI_FAST = re.compile(
    "\x1b(?:\\[[0-9;?]*[ -/]*[@-~]|\\][^\x07\x1b\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]*(?:\x07|\x1b\\\\))"
)


def canonical(text: str) -> str:
    """`text` with every line break `splitlines` knows written as "\\n" and colour codes removed.

    Both substitutions run only when the log holds what they remove, which most logs don't."""
    if "\x1b" in text:
        text = _ANSI_FAST.sub("", text)
    if _OTHER_BREAKS.search(text):
        text = _OTHER_BREAKS.sub("\n", text)
    return text


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


def _trie_regex(words: Iterable[str]) -> str:
    """One expression matching any of `words`, as a trie: the regex engine then tries one branch per character
    instead of every word at every position."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _trie_node(trie)


def _trie_node(node: dict[str, Any]) -> str:
    ends = "" in node
    parts = [re.escape(char) + _trie_node(child) for char, child in sorted(node.items()) if char]
    if not parts:
        return ""
    body = parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
    # Any word reaching this node is enough: what follows it is optional.
    return f"(?:{body})?" if ends else body


@dataclass(frozen=True)
class _Plan:
    """The signatures, split by how they are searched."""

    by_literal: tuple[tuple[Failure, Signature, tuple[str, ...]], ...]
    whole_text: tuple[tuple[Failure, Signature], ...]
    prefilter: Optional[re.Pattern[str]]


def _plan(failures: Sequence[Failure]) -> _Plan:
    by_literal, whole_text, words = [], [], set()
    for failure in failures:
        for signature in failure.signatures:
            found = literals(signature.pattern)
            if found:
                by_literal.append((failure, signature, found))
                words.update(found)
            else:
                whole_text.append((failure, signature))
    prefilter = re.compile(_trie_regex(words)) if words else None
    return _Plan(tuple(by_literal), tuple(whole_text), prefilter)


class _Lines:
    """Line numbers and normalised lines of a canonical text, found from positions in increasing order."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._pos, self._number = 0, 1

    def at(self, pos: int) -> tuple[int, int, int]:
        """(line number, start, end) of the line holding `pos`; positions must not go backwards."""
        start = self.text.rfind("\n", 0, pos) + 1
        end = self.text.find("\n", pos)
        end = len(self.text) if end < 0 else end
        if start >= self._pos:
            self._number += self.text.count("\n", self._pos, start)
            self._pos = start
        return self._number, start, end


def find(failures: Sequence[Failure], text: str) -> list[Hit]:
    """Every signature of `failures` found in `text`, in line order: what `search` returns, found faster."""
    text = canonical(text)
    plan = _plan(tuple(failures))
    hits = list(_prefiltered(plan, text)) + list(_whole_text(plan, text))
    hits = [h for h in hits if _near_holds(h.signature, text)]
    order = {(id(f), id(s)): n for n, (f, s) in enumerate((f, s) for f in failures for s in f.signatures)}
    return sorted(hits, key=lambda h: (h.line_number, order[(id(h.failure), id(h.signature))]))


def _prefiltered(plan: _Plan, text: str) -> Iterator[Hit]:
    if plan.prefilter is None:
        return
    lines, pos = _Lines(text), 0
    while True:
        found = plan.prefilter.search(text, pos)
        if found is None:
            return
        number, start, end = lines.at(found.start())
        raw = text[start:end]
        line = None
        for failure, signature, words in plan.by_literal:
            if any(word in raw for word in words):
                line = normalise(raw) if line is None else line
                hit = _hit(failure, signature, number, line)
                if hit is not None:
                    yield hit
        pos = end + 1


def _whole_text(plan: _Plan, text: str) -> Iterator[Hit]:
    for failure, signature in plan.whole_text:
        if "^" in signature.pattern or "\\A" in signature.pattern:
            # Anchored at the start of a line, which a rank prefix would hide from a search of the raw text.
            for number, line in enumerate(text.split("\n"), 1):
                hit = _hit(failure, signature, number, normalise(line))
                if hit is not None:
                    yield hit
            continue
        loose = re.compile(signature.pattern, re.MULTILINE)
        lines, pos = _Lines(text), 0
        while pos <= len(text):
            found = loose.search(text, pos)
            if found is None:
                break
            number, start, end = lines.at(found.start())
            hit = _hit(failure, signature, number, normalise(text[start:end]))
            if hit is not None:
                yield hit
            pos = end + 1


def _hit(failure: Failure, signature: Signature, number: int, line: str) -> Optional[Hit]:
    found = signature.regex.search(line)
    if not found:
        return None
    values = {k: v for k, v in found.groupdict().items() if v is not None}
    return Hit(failure, signature, number, line, values)


def _near_holds(signature: Signature, text: str) -> bool:
    if signature.near_regex is None:
        return True
    if "^" in signature.near:  # the reference looks for it in the normalised lines
        return bool(signature.near_regex.search("\n".join(normalise(line) for line in text.split("\n"))))
    return bool(signature.near_regex.search(text))
