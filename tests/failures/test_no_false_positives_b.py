"""Healthy logs of loading, generating and torchrun runs: no catalogued failure may be found in them."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamadoctor.failures import FAILURES, search

HEALTHY = Path(__file__).parent / "logs" / "healthy"
LOGS = sorted(HEALTHY.glob("b-*.log"))


def test_the_healthy_logs_are_there() -> None:
    assert len(LOGS) >= 4, [p.name for p in LOGS]


@pytest.mark.parametrize("log", LOGS, ids=[p.name for p in LOGS])
def test_no_failure_is_found_in_a_healthy_log(log: Path) -> None:
    hits = search(FAILURES, log.read_text(encoding="utf-8"))
    assert not hits, "\n".join(f"{h.failure.id} on line {h.line_number}: {h.line!r}" for h in hits)
