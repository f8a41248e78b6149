"""What Meta's repo asks pip to install, against the interpreter that will run it: packages missing, and pins
with no wheel for this Python, which send pip to a source build that fails."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, Optional

from llamadoctor.checks._libraries import LIBRARIES, META_REQUIREMENTS, installed, libraries, pip_install
from llamadoctor.facts import Facts, Requirement
from llamadoctor.i18n import _, ngettext
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Requires, Severity
from llamadoctor.registry import check
from llamadoctor.testing import linux_gpu, mac_arm_x86_python, replace_in, windows_conda
from llamadoctor.testing_files import repo_with
from llamadoctor.wheels import (
    FIRST_WITH_WHEELS,
    LAST_FOR_PLATFORM,
    has_wheel,
    newest_python,
    pinned_release,
    platform_key,
    python_minor,
    same_release,
)

PLATFORM_NAMES = {
    "linux": "Linux",
    "windows": "Windows",
    "darwin-arm64": "macOS (Apple Silicon)",
    "darwin-x86_64": "macOS (Intel)",
}
IMPORTED_AS_NAMED = ("torch", "fairscale", "fire", "sentencepiece", "tiktoken", "blobfile", "termcolor")
# What pip says when there is no wheel: torch publishes no source at all; the others' source builds fail
_PIP_SAYS = {
    "torch": "No matching distribution found for torch=={release}",
    "sentencepiece": "Failed to build 'sentencepiece'",
    "tiktoken": "Failed building wheel for tiktoken",
}


def _requirements(facts: Facts) -> tuple[Requirement, ...]:
    if not (facts.repo and facts.repo.flavour and facts.libraries):
        return ()
    return facts.libraries.requirements


def _no_requirements(facts: Facts) -> str:
    if not (facts.repo and facts.repo.flavour):
        return _("no Meta repo found")
    return _("the repo lists no requirements")


META_REQUIRES = Requires(_requirements, _no_requirements, probe="files")


def _meta(
    changes: Optional[dict[str, Optional[str]]] = None,
    requirements: tuple[Requirement, ...] = META_REQUIREMENTS,
    base: Optional[Facts] = None,
) -> Facts:
    """Meta's Llama 2 repo with `requirements`, and the healthy packages changed by `changes`."""
    libs = libraries(changes or {}, requirements=requirements)
    base = base or linux_gpu()
    repo = repo_with(path=r"C:\Users\ada\llama") if base.os == "windows" else repo_with()
    return dataclasses.replace(base, libraries=libs, repo=repo)


@check(
    id="meta-requirements-missing",
    summary="Packages Meta's code imports are not installed in the Python that will run it",
    severity=Severity.ERROR,
    group=Group.PYTHON,
    fixes=("install-missing-packages",),
    requires=(LIBRARIES, META_REQUIRES),
    checked=lambda facts: _("{packages} in {python}").format(
        packages=", ".join(r.name for r in _requirements(facts)), python=facts.python.executable
    ),
    examples=(
        Healthy(_meta()),
        Inapplicable(_meta(requirements=()), expect="lists no requirements"),
        Inapplicable(linux_gpu(libraries=libraries()), expect="no Meta repo"),
        Broken(_meta({"fairscale": None}), expect="No module named 'fairscale'"),
        Broken(_meta({"fire": None, "sentencepiece": None}), expect="fire, sentencepiece"),
        Broken(_meta(requirements=(Requirement("pyyaml", "", "pyproject.toml"),)), expect="“ModuleNotFoundError”"),
    ),
)
def meta_requirements_missing(facts: Facts) -> Iterator[Finding]:
    """What it checks: every package in the repo's requirements.txt, pyproject.toml or setup.py (torch, fire,
    fairscale, sentencepiece or tiktoken) against the distributions installed for the target interpreter,
    read from their metadata.

    Why it matters: pip often installed them for another Python (a system Python, conda's base, another venv)
    than the one whose torchrun runs the example, which then stops at once with
    “ModuleNotFoundError: No module named 'fairscale'”.

    How to fix: install them with the target interpreter's own pip, from the repo folder:
    `python -m pip install -r requirements.txt` (or `python -m pip install -e .`).
    """
    missing = [r for r in _requirements(facts) if not installed(facts, r.name)]
    if not missing:
        return
    names = ", ".join(r.name for r in missing)
    sources = ", ".join(sorted({r.source for r in missing}))
    # Name the module the error names where the import name is the project's (PyYAML is imported as yaml)
    module = next((r.name for r in missing if r.name in IMPORTED_AS_NAMED), "")
    error = f"ModuleNotFoundError: No module named '{module}'" if module else "ModuleNotFoundError"
    yield meta_requirements_missing.finding(
        # TRANSLATORS: {sources} names the files that list the packages ("requirements.txt").
        ngettext(
            "{packages} ({repo}'s {sources}) is not installed for {python}: Meta's example run with it stops with "
            "“{error}”.",
            "{packages} ({repo}'s {sources}) are not installed for {python}: Meta's example run with it stops with "
            "“{error}”.",
            len(missing),
        ).format(
            packages=names,
            repo=facts.repo.path if facts.repo else _("the repo"),
            sources=sources,
            python=facts.python.executable,
            error=error,
        ),
        remedy=pip_install(facts, *(f"{r.name}{r.specifier}" for r in missing), upgrade=False),
        missing=[r.name for r in missing],
        python=facts.python.executable,
        install=[f"{r.name}{r.specifier}" for r in missing],
    )


def _without_wheels(facts: Facts) -> Iterator[tuple[Requirement, Any]]:
    """The pinned requirements with no wheel for the target Python, unless that release is installed already."""
    python = python_minor(facts.python.version)
    platform = platform_key(facts.os, facts.python.machine)
    for requirement in _requirements(facts):
        release = pinned_release(requirement.specifier)
        if python is None or release is None or same_release(installed(facts, requirement.name), release):
            continue
        if has_wheel(requirement.name, release, python, platform) is False:
            yield requirement, release


def _where(facts: Facts, requirement: Requirement) -> str:
    return facts.path.join(facts.repo.path, requirement.source) if facts.repo else requirement.source


def _remedy(requirement: Requirement, release: Any, platform: str, first: Any) -> str:
    """The ways out of a pin without wheels, least change first, as one sentence."""
    name, source = requirement.name, requirement.source
    ways = [_("change the pin in {source} to {pin}").format(source=source, pin=f"{name}>={first}")] if first else []
    newest = newest_python(name, release, platform)
    if newest:
        ways.append(_("make the environment with Python {python}").format(python=f"{newest[0]}.{newest[1]}"))
    last = LAST_FOR_PLATFORM.get((name, platform))
    if last:
        ways.append(
            _("pin {pin} in {source}, the last release built for this platform").format(
                pin=f"{name}=={last}", source=source
            )
        )
    if not ways:
        ways.append(_("unpin {name} in {source}").format(name=name, source=source))
    # TRANSLATORS: the separator between alternative remedies.
    return _(" or ").join(ways)


def _pinned(name: str, spec: str) -> tuple[Requirement, ...]:
    pins = {"torch": "", "fairscale": "", "fire": "", "sentencepiece": "", name: spec}
    return tuple(Requirement(n, s, "requirements.txt") for n, s in pins.items())


PY312 = replace_in(windows_conda(), "python", version="3.12.4")


@check(
    id="no-wheel-for-python",
    summary="The repo pins a torch, sentencepiece or tiktoken release with no wheel for this Python",
    severity=Severity.ERROR,
    group=Group.PYTHON,
    requires=(LIBRARIES, META_REQUIRES),
    checked=lambda facts: _("{pins} for Python {version} on {platform}").format(
        pins=", ".join(r.name + r.specifier for r in _requirements(facts) if r.specifier) or _("no pinned releases"),
        version=facts.python.version,
        platform=PLATFORM_NAMES.get(platform_key(facts.os, facts.python.machine)),
    ),
    examples=(
        Healthy(_meta(requirements=_pinned("sentencepiece", "==0.2.0"), base=PY312)),
        Healthy(_meta({"sentencepiece": "0.1.99"}, _pinned("sentencepiece", "==0.1.99"), base=PY312)),
        Healthy(_meta(requirements=_pinned("torch", "==2.2.2"), base=mac_arm_x86_python())),
        Healthy(
            _meta(
                {"torch": "2.3.1+cu121"},
                _pinned("torch", "==2.3.1"),
                base=replace_in(linux_gpu(), "python", version="3.13.1"),
            )
        ),
        Inapplicable(linux_gpu(libraries=libraries()), expect="no Meta repo"),
        Broken(
            _meta({"sentencepiece": None}, _pinned("sentencepiece", "==0.1.99"), base=PY312),
            expect="sentencepiece==0.1.99, which has no wheel for Python 3.12 on Windows",
        ),
        Broken(_meta(requirements=_pinned("torch", "==2.3.1"), base=mac_arm_x86_python()), expect="macOS (Intel)"),
        Broken(
            _meta(requirements=_pinned("torch", "==2.3.1"), base=replace_in(linux_gpu(), "python", version="3.13.1"))
        ),
        Broken(
            _meta(
                requirements=_pinned("tiktoken", "==0.4.0"), base=replace_in(linux_gpu(), "python", version="3.12.3")
            ),
            expect="tiktoken==0.4.0, which has no wheel for Python 3.12 on Linux",
        ),
    ),
)
def no_wheel_for_python(facts: Facts) -> Iterator[Finding]:
    """What it checks: the releases of torch, sentencepiece and tiktoken that the repo's requirements pin
    exactly, against the Python version and platform of the target interpreter, in a table of the wheels each
    release has on PyPI. A pin already installed is fine.

    Why it matters: with no wheel pip builds from source, which needs a C++ or Rust toolchain and CMake and
    fails (“Failed to build 'sentencepiece'”); torch publishes no source, so pip finds nothing at all
    (“No matching distribution found for torch==2.3.1”).

    How to fix: relax the pin in requirements.txt to a release with wheels for this Python (sentencepiece
    0.2.0 for Python 3.12), or make the environment with a Python the pinned release supports.
    """
    python = python_minor(facts.python.version) or (0, 0)
    platform = platform_key(facts.os, facts.python.machine)
    for requirement, release in _without_wheels(facts):
        name = requirement.name
        first = FIRST_WITH_WHEELS.get(name, {}).get(python)
        remedy = _remedy(requirement, release, platform, first)
        if first:
            command = pip_install(facts, f"{name}>={first}", upgrade=False)
            remedy = _("{ways}: {command}").format(ways=remedy, command=command)
        yield no_wheel_for_python.finding(
            _(
                "{file} pins {pin}, which has no wheel for Python {python} on {platform}: pip stops with “{error}”."
            ).format(
                file=_where(facts, requirement),
                pin=f"{name}=={release}",
                python=f"{python[0]}.{python[1]}",
                platform=PLATFORM_NAMES.get(platform, platform),
                error=_PIP_SAYS[name].format(release=release),
            ),
            remedy=remedy,
            package=requirement.name,
            release=str(release),
            python=facts.python.version,
        )
