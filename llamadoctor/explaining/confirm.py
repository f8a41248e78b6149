"""Does this machine show the failure a log reports? The failure's linked checks, judged over this machine's
Facts, answer for each match: confirmed here, not the case here, or can't tell here. Pure: Facts in, verdicts out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from llamadoctor.engine import CheckResult, Report, run
from llamadoctor.facts import Facts
from llamadoctor.failures.model import Failure
from llamadoctor.i18n import N_, _
from llamadoctor.model import Status
from llamadoctor.registry import CHECKS, load_all

# TRANSLATORS: whether this machine shows the failure found in a log
CONFIRMED, NOT_HERE, CANT_TELL = N_("confirmed here"), N_("not the case here"), N_("can't tell here")
# A check reporting info notes something without calling it a problem.
_FOUND = (Status.ERROR, Status.WARNING)


@dataclass(frozen=True)
class Confirmation:
    verdict: str  # CONFIRMED, NOT_HERE or CANT_TELL, in English (`--json` says it; people read it through `_()`)
    results: tuple[CheckResult, ...]  # the linked checks' results, in the failure's order
    why: str  # the first finding's message, or what the passed checks looked at


def linked_checks(failures: Iterable[Failure]) -> list[str]:
    """The ids of the checks the failures link to, each once, in order."""
    load_all()
    ids = [check_id for failure in failures for check_id in failure.checks if check_id in CHECKS]
    return list(dict.fromkeys(ids))


def judge_here(facts: Facts, check_ids: Sequence[str]) -> Report:
    """Run only `check_ids` over `facts`."""
    load_all()
    return run(facts, [CHECKS[i] for i in check_ids], partial=True)


def confirm(failure: Failure, report: Report) -> Confirmation:
    results = tuple(r for check_id in failure.checks for r in report.results if r.check.id == check_id)
    found = [r for r in results if r.status in _FOUND]
    if found:
        return Confirmation(CONFIRMED, results, found[0].findings[0].message if found[0].findings else "")
    passed = [r for r in results if r.status is Status.PASSED]
    if passed:
        return Confirmation(NOT_HERE, results, passed[0].checked)
    if not results:
        return Confirmation(CANT_TELL, results, _("no check of this machine looks for it"))
    reasons = "; ".join(f"{r.check.id}: {r.reason or r.status.value}" for r in results)
    return Confirmation(CANT_TELL, results, reasons)
