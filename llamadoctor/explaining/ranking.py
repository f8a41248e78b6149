"""From signature hits to causes, root cause first.

Real logs wrap the error that stopped a run in other output: torchrun's `ChildFailedError` report, a copy of
every line per rank, the traceback frames fire prints, warnings printed before the error. A failure is listed
once with all the lines it was seen on; a failure found on the exception that ended a traceback ranks above
one seen only in warnings, and among those, the one that came first is the one that stopped the run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Callable, Optional

from llamadoctor.failures.model import Failure, Hit, normalise

HIGH, MEDIUM, LOW = "high", "medium", "low"
# The line a Python traceback ends with (`torch.cuda.OutOfMemoryError: CUDA out of memory...`, a bare
# `AssertionError`), possibly inside torchrun's report of the first failure (`exception : ...`).
EXCEPTION_LINE = re.compile(
    r"^\s*(?:(?:exception|traceback)\s*:\s*)?(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Interrupt|Exit)(?::\s|:?$)"
)
# What a shell or a launcher prints when it gives up, for a log that holds no traceback.
SHELL_ERROR = re.compile(
    r"(?::|^)\s*(?:command not found|No such file or directory|Permission denied|bad interpreter.*"
    r"|syntax error.*|failed to create (?:a )?process\.?)\s*$"
)
# Exceptions that only report another one, which the log shows earlier.
WRAPPERS = re.compile(r"\b(?:ChildFailedError|CalledProcessError)\b")
TAIL_LINES = 3  # a failure on the last lines of a log without a traceback stopped it
TAIL_WINDOW = 1 << 18  # how much of a log's end is read at a time when looking for its last exception


@dataclass(frozen=True)
class Match:
    """One failure found in a log: every line it was seen on, and how sure the finding is."""

    failure: Failure
    lines: tuple[tuple[int, str], ...]  # (1-based number, normalised text), in order
    values: Mapping[str, str]  # what the signature captured on the deciding line
    stopping: bool  # seen on the error that ended the run
    warning: bool  # seen only on warnings, which do not stop a run by themselves
    deciding: int  # the line that decided the values and the rank: the stopping one, else the first
    confidence: str

    @property
    def first(self) -> int:
        return self.lines[0][0]

    def text(self, part: str) -> str:
        return self.failure.fill(part, self.values)


def is_exception(line: str) -> bool:
    return bool(EXCEPTION_LINE.match(line))


def rank(hits: Sequence[Hit], line_count: int) -> list[Match]:
    """One match per failure, the cause that stopped the run first."""
    grouped: dict[str, list[Hit]] = {}
    for hit in hits:
        grouped.setdefault(hit.failure.id, []).append(hit)
    matches = [_match(group, line_count) for group in grouped.values()]
    return sorted(matches, key=_order)


def _order(match: Match) -> tuple[bool, bool, bool, int]:
    return (not match.stopping, match.warning, match.confidence == LOW, match.deciding)


def _match(hits: list[Hit], line_count: int) -> Match:
    by_line: dict[int, Hit] = {}
    for hit in hits:
        by_line.setdefault(hit.line_number, hit)
    ordered = [by_line[n] for n in sorted(by_line)]
    stopping_hits = [h for h in ordered if not h.signature.warning and _stops(h, line_count)]
    deciding = stopping_hits[0] if stopping_hits else ordered[0]
    strong = [h for h in ordered if not h.signature.weak]
    warning = all(h.signature.warning for h in ordered)
    return Match(
        hits[0].failure,
        tuple((h.line_number, h.line) for h in ordered),
        dict(deciding.values),
        stopping=bool(stopping_hits),
        warning=warning,
        deciding=deciding.line_number,
        confidence=_confidence(bool(strong), warning, bool(stopping_hits), len(ordered)),
    )


def _stops(hit: Hit, line_count: int) -> bool:
    """On the exception that ended a traceback, or (for a distinctive signature) on the last lines of the log."""
    at_the_end = hit.line_number > line_count - TAIL_LINES and not hit.signature.weak
    return is_exception(hit.line) or at_the_end


def _confidence(strong: bool, warnings_only: bool, stopping: bool, seen: int) -> str:
    if not strong:
        return LOW
    if warnings_only:
        return MEDIUM if seen > 1 else LOW
    return HIGH if stopping or seen > 1 else MEDIUM


def last_exception(data: bytes) -> Optional[tuple[int, str]]:
    """The last error a canonical log shows (line number and text): a traceback's last line, else a shell's.

    Read from the end, a window at a time, so that a long log is not searched whole for what its end says."""
    found = _last_in(data, lambda line: is_exception(line) and not WRAPPERS.search(line))
    if found is None:
        found = _last_in(data, is_exception)
    return found if found is not None else _last_in(data, lambda line: bool(SHELL_ERROR.search(line)))


def _last_in(data: bytes, wanted: Callable[[str], bool]) -> Optional[tuple[int, str]]:
    end = len(data)
    while end > 0:
        start = data.rfind(b"\n", 0, max(0, end - TAIL_WINDOW)) + 1 if end > TAIL_WINDOW else 0
        lines = data[start:end].decode("utf-8", "replace").split("\n")
        for offset in range(len(lines) - 1, -1, -1):
            line = normalise(lines[offset])
            if wanted(line):
                return data.count(b"\n", 0, start) + offset + 1, line.strip()
        end = start - 1 if start > 0 else 0
    return None
