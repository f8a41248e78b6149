"""`llamadoctor explain`: the failures a log shows, root cause first, with the fix and what this machine says.

    explanation = explain_text(log_text)          # matches, best first; the last exception when none is known
    explanation.matches[0].failure.id             # "dist-nccl-not-built"

Torch-free and cheap to import; reading input, confirming on this machine and rendering live beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from llamadoctor.explaining.matching import canonical, find
from llamadoctor.explaining.ranking import Match, last_exception, rank
from llamadoctor.failures import FAILURES, Failure


@dataclass(frozen=True)
class Explanation:
    matches: tuple[Match, ...]  # best first
    last_exception: Optional[tuple[int, str]]  # (line number, text), looked for when nothing known matched
    line_count: int


def explain_text(text: str, failures: Sequence[Failure] = FAILURES) -> Explanation:
    text = canonical(text)
    line_count = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    matches = tuple(rank(find(failures, text), line_count))
    return Explanation(matches, None if matches else last_exception(text), line_count)


__all__ = ["Explanation", "Match", "explain_text"]
