"""The catalogue of checks and fixes, filled by the @check and @fix decorators at import time."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable, Iterator
from typing import Callable

from llamadoctor.model import (
    PLATFORMS,
    Applicability,
    Check,
    CheckFunc,
    Example,
    Finding,
    Fix,
    Group,
    PlanFunc,
    Severity,
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
) -> Callable[[CheckFunc], Check]:
    """Register a check function. The decorated name becomes the Check, whose `.finding()` builds Findings."""

    def register(func: CheckFunc) -> Check:
        if id in CHECKS:
            raise ValueError(f"check id {id!r} is registered twice")
        spec = Check(id, summary, severity, group, func, frozenset(platforms), tuple(fixes),
                     tuple(examples), slow)
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


def run_check(spec: Check, facts: object) -> Iterator[Finding]:
    """Call a check's function; kept here so the engine and the example tests call it the same way."""
    yield from spec.func(facts)  # type: ignore[arg-type]
