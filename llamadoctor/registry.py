"""The catalogue of checks and fixes, filled by the @check and @fix decorators at import time."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable, Iterator
from typing import Any, Callable

from llamadoctor.model import (
    PLATFORMS,
    Applicability,
    Check,
    CheckFunc,
    Example,
    Finding,
    Fix,
    Group,
    NotApplicable,
    Outcome,
    PlanFunc,
    Requires,
    Severity,
    SkipCheck,
)

ID_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")

CHECKS: dict[str, Check] = {}
FIXES: dict[str, Fix] = {}


def check(
    *,
    id: str,
    summary: str,
    severity: Severity,
    group: Group,
    platforms: Iterable[str] = PLATFORMS,
    fixes: Iterable[str] = (),
    examples: Iterable[Example] = (),
    slow: bool = False,
    requires: Iterable[Requires] = (),
    checked: str | Callable[[Any], str] = "",
) -> Callable[[CheckFunc], Check]:
    """Register a check function. The decorated name becomes the Check, whose `.finding()` builds Findings.

    `requires` lists the facts the check needs (when one is missing the check is not applicable, and its
    function is not called); `checked` says what a healthy run looked at, unless the function yields Passed.
    """

    def register(func: CheckFunc) -> Check:
        if id in CHECKS:
            raise ValueError(f"check id {id!r} is registered twice")
        spec = Check(
            id,
            summary,
            severity,
            group,
            func,
            frozenset(platforms),
            tuple(fixes),
            tuple(examples),
            slow,
            tuple(requires),
            checked,
        )
        CHECKS[id] = spec
        return spec

    return register


def fix(*, id: str, summary: str, applicability: Applicability) -> Callable[[PlanFunc], Fix]:
    def register(func: PlanFunc) -> Fix:
        if id in FIXES:
            raise ValueError(f"fix id {id!r} is registered twice")
        FIXES[id] = spec = Fix(id, summary, applicability, func)
        return spec

    return register


def load_all() -> None:
    """Import every module of llamadoctor.checks and llamadoctor.fixes so their decorators run."""
    for package_name in ("llamadoctor.checks", "llamadoctor.fixes"):
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{package_name}.{info.name}")


def all_checks() -> list[Check]:
    load_all()
    return sorted(CHECKS.values(), key=lambda c: (list(Group).index(c.group), c.slow, c.id))


def outcomes(spec: Check, facts: Any) -> Iterator[Outcome]:
    """What a check concludes about `facts`: NotApplicable for its first unmet requirement, else what its
    function yields (Findings, Passed, NotApplicable). Raises SkipCheck as the function does, and when a probe
    a requirement reads from failed."""
    for requirement in spec.requires:
        failed = requirement.probe_failed(facts)
        if failed:
            raise SkipCheck(failed)
        reason = requirement.unmet(facts)
        if reason is not None:
            yield NotApplicable(reason)
            return
    yield from spec.func(facts)


def run_check(spec: Check, facts: Any) -> Iterator[Finding]:
    """The Findings alone: what a test or a fix asks of a check."""
    yield from (o for o in outcomes(spec, facts) if isinstance(o, Finding))
