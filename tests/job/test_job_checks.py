"""The cross-rank checks: well-formed and documented like every check, and their examples hold."""

from __future__ import annotations

import pytest

from llamadoctor.job import JOB_CHECKS, JobBroken, JobCheck, JobExample, JobHealthy, all_job_checks, ranks_text
from llamadoctor.job_report import judge
from llamadoctor.model import Status
from llamadoctor.registry import CHECKS, ID_RE

ALL = all_job_checks()
SECTIONS = ("What it checks", "Why it matters", "How to fix")


def _examples() -> list[object]:
    return [
        pytest.param(spec, ex, id=f"{spec.id}-{'healthy' if isinstance(ex, JobHealthy) else 'broken'}-{n}")
        for spec in ALL
        for n, ex in enumerate(spec.examples)
    ]


@pytest.mark.parametrize(("spec", "example"), _examples())
def test_job_check_example(spec: JobCheck, example: JobExample) -> None:
    result = judge(spec, example.job)
    assert result.status is not Status.CRASHED, result.detail
    if isinstance(example, JobHealthy):
        assert result.status is Status.PASSED, f"{spec.id}: {result.findings or result.reason}"
        assert result.checked, f"{spec.id} passed without saying what it looked at"
        return
    assert isinstance(example, JobBroken)
    assert result.findings, f"{spec.id} missed its broken example"
    assert all(f.check == spec.id for f in result.findings)
    assert any(example.expect in f.message for f in result.findings), [f.message for f in result.findings]


@pytest.mark.parametrize("spec", ALL, ids=[c.id for c in ALL])
def test_job_check_is_well_formed(spec: JobCheck) -> None:
    assert ID_RE.match(spec.id) and spec.id.startswith("job-")
    assert spec.summary and not spec.summary.endswith(".") and spec.summary[0].isupper()
    positions = [spec.doc.find(s + ":") for s in SECTIONS]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), spec.id
    assert any(isinstance(e, JobHealthy) for e in spec.examples)
    assert any(isinstance(e, JobBroken) for e in spec.examples)


def test_job_check_ids_are_their_own() -> None:
    assert not set(JOB_CHECKS) & set(CHECKS)
    assert len(ALL) >= 8


def test_ranks_are_named_as_ranges() -> None:
    assert ranks_text([5, 1, 2, 3, 9, 10]) == "1-3, 5, 9-10"
