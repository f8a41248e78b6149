"""install-missing-packages: the target interpreter's pip, shown first, run only with --unsafe (pip itself is
replaced by a fake: no test installs anything)."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Sequence
from io import StringIO

import pytest
from rich.console import Console

from llamadoctor import fixing
from llamadoctor.checks._libraries import hf_facts, libraries
from llamadoctor.checks.repo_requirements import _meta, meta_requirements_missing
from llamadoctor.checks.transformers_deps import SLOW_ONLY, accelerate_too_old, protobuf_missing
from llamadoctor.engine import run
from llamadoctor.facts import Facts
from llamadoctor.fixes.install_missing_packages import install_missing_packages
from llamadoctor.model import Applicability, Check, RunCommand
from llamadoctor.testing import replace_in, windows_conda


def _plan(check: Check, facts: Facts) -> tuple[object, ...]:
    assert "install-missing-packages" in check.fixes
    (finding,) = check.func(facts)
    return install_missing_packages.plan(finding, facts)


def test_is_unsafe_and_shows_the_target_interpreters_pip() -> None:
    assert install_missing_packages.applicability is Applicability.UNSAFE
    base = replace_in(windows_conda(), "python", executable=r"C:\Users\ada\miniconda3\envs\llama\python.exe")
    (action,) = _plan(meta_requirements_missing, _meta({"fairscale": None, "fire": None}, base=base))
    assert isinstance(action, RunCommand)
    assert action.argv == (
        r"C:\Users\ada\miniconda3\envs\llama\python.exe",
        "-m",
        "pip",
        "install",
        "fairscale",
        "fire",
    )


def test_protobuf_is_installed_and_accelerate_upgraded_to_what_transformers_asks() -> None:
    (action,) = _plan(protobuf_missing, hf_facts({"protobuf": None}, tokenizer=SLOW_ONLY))
    assert isinstance(action, RunCommand) and action.argv[-3:] == ("pip", "install", "protobuf")
    (action,) = _plan(accelerate_too_old, hf_facts({"accelerate": "0.20.3"}))
    assert isinstance(action, RunCommand) and action.argv[-3:] == ("install", "-U", "accelerate>=0.26.0")


@pytest.mark.parametrize("spec", ["--index-url=https://evil.example/simple", "./local", "https://x/y.whl", ""])
def test_evidence_that_is_not_a_requirement_plans_nothing(spec: str) -> None:
    finding = meta_requirements_missing.finding("...", install=["fire", spec])
    assert install_missing_packages.plan(finding, _meta()) == ()


def _report_and_plans(facts: Facts) -> tuple[object, list[fixing.PlannedFix]]:
    report = run(facts, [meta_requirements_missing])
    return report, fixing.plan(report, ("install-missing-packages",))


def test_runs_only_with_unsafe_then_the_check_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[Sequence[str]] = []

    def fake_pip(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        ran.append(tuple(argv))
        return subprocess.CompletedProcess(list(argv), 0, "Successfully installed fairscale-0.4.13\n", "")

    monkeypatch.setattr("llamadoctor.apply.run", fake_pip)
    broken = _meta({"fairscale": None})
    healthy = dataclasses.replace(broken, libraries=libraries(requirements=broken.libraries.requirements))
    report, planned = _report_and_plans(broken)
    out = StringIO()
    fixing.render_plan(planned, Console(file=out, width=200), "bash")
    assert "unsafe: needs --unsafe" in out.getvalue()
    assert f"run {broken.python.executable} -m pip install fairscale" in out.getvalue()

    skipped = fixing.apply(report, planned, unsafe=False, recheck=lambda: healthy)  # type: ignore[arg-type]
    assert [o.status for o in skipped.outcomes] == ["skipped-unsafe"] and ran == []

    done = fixing.apply(report, planned, unsafe=True, recheck=lambda: healthy)  # type: ignore[arg-type]
    assert [o.status for o in done.outcomes] == ["fixed"]
    assert ran == [(broken.python.executable, "-m", "pip", "install", "fairscale")]


def test_a_failing_pip_is_reported_with_its_last_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_pip(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(list(argv), 1, "", "ERROR: No matching distribution found for fairscale\n")

    monkeypatch.setattr("llamadoctor.apply.run", failing_pip)
    broken = _meta({"fairscale": None})
    report, planned = _report_and_plans(broken)
    done = fixing.apply(report, planned, unsafe=True, recheck=lambda: broken)  # type: ignore[arg-type]
    (outcome,) = done.outcomes
    assert outcome.status == "failed" and "No matching distribution found for fairscale" in outcome.detail
