"""The catalogue itself: every check is well-formed, documented, and its examples hold."""

from __future__ import annotations

import sys

import pytest

from llamadoctor.engine import run_one
from llamadoctor.model import PLATFORMS, Broken, Check, Example, Healthy, Inapplicable, Status
from llamadoctor.registry import CHECKS, FIXES, ID_RE, all_checks, load_all

load_all()
ALL = all_checks()
SECTIONS = ("What it checks", "Why it matters", "How to fix")


def _example_params() -> list[object]:
    params = []
    for spec in ALL:
        for n, example in enumerate(spec.examples):
            kind = {Healthy: "healthy", Broken: "broken", Inapplicable: "inapplicable"}[type(example)]
            params.append(pytest.param(spec, example, id=f"{spec.id}-{kind}-{n}"))
    return params


@pytest.mark.parametrize(("spec", "example"), _example_params())
def test_check_example(spec: Check, example: Example) -> None:
    result = run_one(spec, example.facts)
    findings = result.findings
    assert result.status is not Status.CRASHED, result.detail
    if isinstance(example, Healthy):
        assert result.status is Status.PASSED, (
            f"{spec.id}: a healthy example is {result.status.value}: {findings or result.reason}"
        )
        assert result.checked, f"{spec.id} passed without saying what it looked at"
        return
    if isinstance(example, Inapplicable):
        assert result.status is Status.NOT_APPLICABLE, f"{spec.id}: {result.status.value}, not not-applicable"
        assert result.reason and example.expect in result.reason, result.reason
        return
    assert findings, f"{spec.id} missed its broken example"
    for finding in findings:
        assert finding.check == spec.id
        assert finding.message.strip()
        assert set(finding.fixes) <= set(FIXES), f"unknown fix ids in {finding.fixes}"
    assert any(example.expect in f.message for f in findings), (
        f"no message of {spec.id} contains {example.expect!r}: {[f.message for f in findings]}"
    )


@pytest.mark.parametrize("spec", ALL, ids=[c.id for c in ALL])
def test_check_is_well_formed(spec: Check) -> None:
    assert ID_RE.match(spec.id), f"{spec.id!r} is not kebab-case"
    assert spec.summary and not spec.summary.endswith(".")
    first = spec.summary.split()[0]
    # A sentence starts with a capital, unless it starts with a name as typed (download.sh, torch, bash).
    assert first[0].isupper() or first in {"torch", "bash"} or not first.isalpha(), spec.summary
    doc = spec.doc
    positions = [doc.find(s + ":") for s in SECTIONS]
    assert all(p >= 0 for p in positions), f"{spec.id}'s docstring needs sections {SECTIONS}"
    assert positions == sorted(positions), f"{spec.id}'s docstring sections are out of order"
    assert spec.platforms and spec.platforms <= PLATFORMS
    assert any(isinstance(e, Healthy) for e in spec.examples), f"{spec.id} has no healthy example"
    assert any(isinstance(e, Broken) for e in spec.examples), f"{spec.id} has no broken example"
    can_not_apply = any(r.reason for r in spec.requires) or spec.platforms != PLATFORMS
    if can_not_apply:
        assert any(isinstance(e, Inapplicable) for e in spec.examples), f"{spec.id} has no not-applicable example"
    for fix_id in spec.fixes:
        assert fix_id in FIXES, f"{spec.id} names unknown fix {fix_id!r}"


def test_every_fix_is_offered_by_some_check() -> None:
    offered = {f for spec in ALL for f in spec.fixes}
    assert set(FIXES) <= offered, f"fixes no check offers: {sorted(set(FIXES) - offered)}"
    for fix_id, spec in FIXES.items():
        assert ID_RE.match(fix_id) and spec.summary


def test_ids_of_checks_and_fixes_do_not_collide() -> None:
    assert not set(CHECKS) & set(FIXES)


def test_package_folders_load_only_under_the_llamadoctor_namespace() -> None:
    # checks/ and fixes/ are mapped into llamadoctor.*; a bare `checks` module would mean double registration.
    assert "checks" not in sys.modules and "fixes" not in sys.modules
