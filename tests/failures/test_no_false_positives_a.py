"""No catalogued failure is found in healthy logs of downloading, installing, converting and serving Llama."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamadoctor.failures import FAILURES, search

HEALTHY = sorted((Path(__file__).parent / "logs" / "healthy").glob("a-*.log"))


def test_the_healthy_logs_are_there() -> None:
    assert len(HEALTHY) >= 6


@pytest.mark.parametrize("log", HEALTHY, ids=[p.stem for p in HEALTHY])
def test_no_failure_is_found_in_a_healthy_log(log: Path) -> None:
    hits = search(FAILURES, log.read_text(encoding="utf-8"))
    assert not hits, "\n".join(f"{h.failure.id} on line {h.line_number}: {h.line!r}" for h in hits)
