"""The failure catalogue as data: every catalogued failure is there, well-formed, and its examples hold."""

from __future__ import annotations

import re

import pytest

from failures.catalogue import CATALOGUE
from llamadoctor.failures import FAILURES, Failure, Step, search
from llamadoctor.registry import CHECKS, FIXES, ID_RE, load_all

load_all()
IDS = [f.id for f in FAILURES]


def test_every_catalogued_failure_has_data() -> None:
    assert len(set(IDS)) == len(IDS), "a failure id is defined twice"
    missing = [failure_id for _, failure_id, _ in CATALOGUE if failure_id not in IDS]
    assert not missing, f"catalogued failures with no signature: {missing}"
    unknown = set(IDS) - {failure_id for _, failure_id, _ in CATALOGUE}
    assert not unknown, f"failures that are not in the catalogue: {sorted(unknown)}"


def test_each_failure_sits_in_its_catalogue_step() -> None:
    steps = {failure_id: step for _, failure_id, step in CATALOGUE}
    for failure in FAILURES:
        assert failure.step.value in steps[failure.id].split("/"), f"{failure.id}: {failure.step.value}"
        assert isinstance(failure.step, Step)


@pytest.mark.parametrize("failure", FAILURES, ids=IDS)
def test_failure_is_well_formed(failure: Failure) -> None:
    assert ID_RE.match(failure.id), failure.id
    assert failure.title and not failure.title.endswith("."), failure.title
    assert failure.cause.strip() and failure.fix.strip()
    assert failure.signatures, "no signature"
    assert failure.matches and failure.ignores, "a failure needs matching and non-matching examples"
    for signature in failure.signatures:
        assert signature.regex.pattern  # compiles
    captured = [s.groups for s in failure.signatures]
    for name in failure.placeholders():
        assert name in failure.defaults or all(name in groups for groups in captured), (
            f"{failure.id}: {{{name}}} is neither captured by every signature nor given a default"
        )
    unknown_checks = set(failure.checks) - set(CHECKS)
    assert not unknown_checks, f"{failure.id} links unknown checks {unknown_checks}"
    unknown_fixes = set(failure.fixes) - set(FIXES)
    assert not unknown_fixes, f"{failure.id} links unknown fixes {unknown_fixes}"


def _examples(kind: str) -> list[object]:
    return [
        pytest.param(failure, text, id=f"{failure.id}-{n}")
        for failure in FAILURES
        for n, text in enumerate(getattr(failure, kind))
    ]


@pytest.mark.parametrize(("failure", "text"), _examples("matches"))
def test_failure_is_found_in_its_matching_example(failure: Failure, text: str) -> None:
    hits = search([failure], text)
    assert hits, f"{failure.id} is not found in:\n{text}"
    for hit in hits:
        for part in (failure.cause, failure.fix, *failure.commands, *failure.windows_commands):
            filled = failure.fill(part, hit.values)
            assert not re.search(r"\{[a-z_]+\}", filled), f"{failure.id}: unfilled placeholder in {filled!r}"


@pytest.mark.parametrize(("failure", "text"), _examples("ignores"))
def test_failure_is_not_found_in_its_non_matching_example(failure: Failure, text: str) -> None:
    hits = search([failure], text)
    assert not hits, f"{failure.id} is wrongly found on line {hits[0].line_number}: {hits[0].line!r}"
