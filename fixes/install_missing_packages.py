"""Install the packages a finding names with the target interpreter's own pip."""

from __future__ import annotations

import re

from llamadoctor.facts import Facts
from llamadoctor.model import Action, Applicability, Finding, RunCommand
from llamadoctor.registry import fix

# A project name, optional extras and a version specifier, as pip reads them: never an option (`--index-url`),
# a path or a URL, which a finding's evidence should not be able to smuggle into pip's command line.
_SPEC = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?([<>=!~]=?[A-Za-z0-9.*+!_-]+(,[<>=!~]=?[A-Za-z0-9.*+!_-]+)*)?$"
)
# pip resolving and downloading wheels (torch is gigabytes) on a slow line
PIP_TIMEOUT = 1800.0


def pip_argv(python: str, specs: tuple[str, ...], *, upgrade: bool) -> tuple[str, ...]:
    return (python, "-m", "pip", "install", *(("-U",) if upgrade else ()), *specs)


@fix(
    id="install-missing-packages",
    summary="Install the missing or too old packages with the target interpreter's pip (cannot be undone)",
    applicability=Applicability.UNSAFE,
)
def install_missing_packages(finding: Finding, facts: Facts) -> tuple[Action, ...]:
    """Unsafe: it changes the user's environment, and `llamadoctor undo` cannot take an install back. The
    exact command is shown before anything runs; it runs only with --unsafe and the user's yes."""
    raw = finding.evidence.get("install")
    specs = tuple(str(s) for s in raw) if isinstance(raw, (list, tuple)) else ()
    if not specs or not all(_SPEC.match(s) for s in specs):
        return ()
    python = str(finding.evidence.get("python") or facts.python.executable)
    upgrade = bool(finding.evidence.get("upgrade", False))
    return (RunCommand(pip_argv(python, specs, upgrade=upgrade), timeout=PIP_TIMEOUT),)
