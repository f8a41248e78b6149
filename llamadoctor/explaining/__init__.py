"""`llamadoctor explain`: the failures a log shows, root cause first, with the fix and what this machine says.

    explanation = explain_text(log_text)          # matches, best first; the last exception when none is known
    explanation.matches[0].failure.id             # "dist-nccl-not-built"

Torch-free and cheap to import; reading input, confirming on this machine and rendering live beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from llamadoctor.explaining.matching import Log, find
from llamadoctor.explaining.ranking import Match, last_exception, rank
from llamadoctor.failures import FAILURES, Failure


@dataclass(frozen=True)
class Explanation:
    matches: tuple[Match, ...]  # best first
    last_exception: Optional[tuple[int, str]]  # (line number, text), looked for when nothing known matched
    line_count: int


def explain_text(text: str, failures: Sequence[Failure] = FAILURES) -> Explanation:
    return explain_log(Log.of_text(text), failures)


def explain_bytes(data: bytes, failures: Sequence[Failure] = FAILURES) -> Explanation:
    """Explain a log given as UTF-8 bytes (what `source.read_utf8` returns)."""
    return explain_log(Log(data), failures)


def explain_log(log: Log, failures: Sequence[Failure] = FAILURES) -> Explanation:
    line_count = log.line_count
    matches = tuple(rank(find(failures, log), line_count))
    return Explanation(matches, None if matches else last_exception(log.data), line_count)


__all__ = ["Explanation", "Log", "Match", "explain_bytes", "explain_log", "explain_text"]
