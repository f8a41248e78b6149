"""The engine's verdicts and exit codes, and what each reporter shows for the same report."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from rich.console import Console

from llamadoctor.engine import run, select
from llamadoctor.facts import Facts, Options
from llamadoctor.model import Check, Finding, Group, Severity, SkipCheck, Status
from llamadoctor.report import render_human, render_json, render_markdown, to_data
from llamadoctor.testing import linux_gpu, windows_conda

SIGNED = (
    "https://download6.llamameta.net/*?Policy=eyJTdGF0ZW1lbnQiOlt7IlJlc291cmNlIjoi&Signature=Zm9vYmFy"
    "&Key-Pair-Id=K15QRJLYKIFSLZ&Download-Request-ID=1234"
)


def make(id: str, func, severity: Severity = Severity.ERROR, platforms=("linux", "darwin", "windows")) -> Check:  # type: ignore[no-untyped-def]
    return Check(id, f"summary of {id}", severity, Group.SYSTEM, func, frozenset(platforms))


def broken(facts: Facts) -> Iterator[Finding]:
    yield Finding(
        "always-broken",
        Severity.ERROR,
        "torch 2.3.1+cpu has no CUDA",
        ("reinstall-torch",),
        {"torch": "2.3.1+cpu"},
        remedy="pip install torch --index-url https://download.pytorch.org/whl/cu121",
    )


def warns(facts: Facts) -> Iterator[Finding]:
    yield Finding("warns", Severity.WARNING, f"a warning about {facts.options.url}")


def healthy(facts: Facts) -> Iterator[Finding]:
    return iter(())


def skips(facts: Facts) -> Iterator[Finding]:
    raise SkipCheck("torch is not installed")


def crashes(facts: Facts) -> Iterator[Finding]:
    raise ZeroDivisionError("division by zero")


CHECKS = [
    make("always-broken", broken),
    make("warns", warns, Severity.WARNING),
    make("is-healthy", healthy),
    make("needs-torch", skips),
    make("windows-only", healthy, platforms=("windows",)),
]


def test_statuses_verdict_and_exit_codes() -> None:
    report = run(linux_gpu(), CHECKS)
    statuses = {r.check.id: r.status for r in report.results}
    assert statuses == {
        "always-broken": Status.ERROR,
        "warns": Status.WARNING,
        "is-healthy": Status.PASSED,
        "needs-torch": Status.SKIPPED,
        "windows-only": Status.NOT_APPLICABLE,
    }
    assert report.results[-1].reason == "only on Windows"
    assert report.verdict() == "1 problem blocks running Llama" and report.exit_code() == 1
    ok = run(linux_gpu(), CHECKS[1:])
    assert ok.verdict() == (
        "the machine is set up for Llama on CUDA (1 warning); no model folder to run was found: "
        "give one with --model-dir"
    )
    assert ok.exit_code() == 0 and ok.exit_code(strict=True) == 1
    # With --only/--skip the verdict speaks for the checks that ran, not for the machine.
    assert run(linux_gpu(), CHECKS[2:3], partial=True).verdict() == "no problem found by the 1 check run"


def test_a_crashing_check_becomes_an_internal_error_and_the_run_goes_on() -> None:
    report = run(linux_gpu(), [make("crashes", crashes), *CHECKS[2:3]])
    crashed, passed = report.results
    assert crashed.status is Status.CRASHED and "ZeroDivisionError" in crashed.findings[0].message
    assert passed.status is Status.PASSED and report.exit_code() == 3


def test_select_rejects_unknown_ids() -> None:
    assert [c.id for c in select(CHECKS, only=["warns"])] == ["warns"]
    assert "warns" not in [c.id for c in select(CHECKS, skip=["warns"])]
    with pytest.raises(KeyError):
        select(CHECKS, only=["no-such-check"])


def test_json_document_follows_schema_1() -> None:
    data = to_data(run(linux_gpu(), CHECKS))
    assert data["schema"] == 1 and set(data) >= {"llamadoctor", "facts", "findings", "summary"}
    assert data["findings"][0] == {
        "check": "always-broken",
        "severity": "error",
        "message": "torch 2.3.1+cpu has no CUDA",
        "fixes": ["reinstall-torch"],
        "remedy": "pip install torch --index-url https://download.pytorch.org/whl/cu121",
        "evidence": {"torch": "2.3.1+cpu"},
    }
    assert data["summary"] == {
        "errors": 1,
        "warnings": 1,
        "checks_run": 3,
        "passed": 1,
        "not_applicable": 1,
        "skipped": 1,
        "not_verified": [],
        "ready": False,
        "device": "CUDA",
        "verdict": "1 problem blocks running Llama",
        "exit_code": 1,
    }
    assert data["checks"][3] == {
        "check": "needs-torch",
        "status": "skipped",
        "checked": "",
        "not_verified": "",
        "reason": "torch is not installed",
        "detail": "torch is not installed",
    }
    assert data["facts"]["gpu"]["gpus"][0]["name"] == "NVIDIA GeForce RTX 3090"


def test_no_output_leaks_a_signed_url_or_token() -> None:
    facts = windows_conda(options=Options(url=SIGNED), secrets_set=("HF_TOKEN",))
    report = run(facts, [make("warns", warns, Severity.WARNING)])
    console = Console(file=io.StringIO(), width=200, color_system=None)
    render_human(report, console)
    outputs = [render_json(report), render_markdown(report), console.file.getvalue()]  # type: ignore[attr-defined]
    for text in outputs:
        assert "Zm9vYmFy" not in text and "eyJTdGF0ZW1lbnQi" not in text and "K15QRJLYKIFSLZ" not in text
    assert json.loads(outputs[0])["facts"]["secrets_set"] == ["HF_TOKEN"]


def test_human_report_groups_marks_and_remedies() -> None:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    render_human(run(linux_gpu(), CHECKS), console, verbose=True)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "System" in text and "✗ always-broken" in text and "! warns" in text and "✓ is-healthy" in text
    assert "- needs-torch  skipped: torch is not installed" in text
    assert "pip install torch --index-url https://download.pytorch.org/whl/cu121" in text
    assert "repair: llamadoctor fix always-broken" in text
    assert text.rstrip().endswith(
        "1 check passed, 2 found problems, 1 skipped, 1 not applicable\n1 problem blocks running Llama"
    )
    assert "NVIDIA GeForce RTX 3090 24.0 GiB; driver 535.104.05 (CUDA ≤ 12.2)" in text


def test_remedy_commands_stay_whole_on_a_narrow_terminal() -> None:
    console = Console(file=io.StringIO(), width=40, color_system=None)
    render_human(run(linux_gpu(), CHECKS[:1]), console)
    assert "     pip install torch --index-url https://download.pytorch.org/whl/cu121\n" in console.file.getvalue()  # type: ignore[attr-defined]


def test_markdown_shows_each_remedy_as_the_terminal_does() -> None:
    """Remedies quote commands in backticks and PowerShell continues lines with one: the pasted report must
    still show them verbatim, in a code block."""
    from markdown_it import MarkdownIt  # rich's own Markdown parser

    remedy = "run `llamadoctor fix x`, or:\ntorchrun `\n  --nproc_per_node 1 example_chat_completion.py"

    def with_remedy(facts: Facts) -> Iterator[Finding]:
        yield Finding("has-remedy", Severity.ERROR, "broken", remedy=remedy)

    text = render_markdown(run(linux_gpu(), [make("has-remedy", with_remedy)]))
    fences = [t for t in MarkdownIt().parse(text) if t.type == "fence"]
    assert [t.content for t in fences] == [remedy + "\n"]
