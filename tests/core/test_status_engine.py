"""What a status claims: passed says what it looked at, not-applicable and skipped say why, and the reporters
show each the way the user asked (-v, --json, --markdown)."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator

from rich.console import Console

from llamadoctor.engine import left_out, run
from llamadoctor.facts import Facts
from llamadoctor.files import ModelDir, Searched
from llamadoctor.model import (
    Check,
    Group,
    NotApplicable,
    NotVerified,
    Outcome,
    Passed,
    Requires,
    Severity,
    Status,
)
from llamadoctor.report import examined_lines, how_found, render_human, render_markdown, to_data
from llamadoctor.testing import linux_gpu

HAS_URL = Requires(lambda f: f.options.url, "no --url given")


def make(id: str, func, *, requires: tuple[Requires, ...] = (), checked: str = "") -> Check:  # type: ignore[no-untyped-def]
    return Check(id, f"summary of {id}", Severity.ERROR, Group.SYSTEM, func, requires=requires, checked=checked)


def must_not_run(facts: Facts) -> Iterator[Outcome]:
    raise AssertionError("a check whose requirement is unmet was called")


def looks(facts: Facts) -> Iterator[Outcome]:
    yield Passed("3 shards against checklist.chk")


def nothing_there(facts: Facts) -> Iterator[Outcome]:
    yield NotApplicable("no checklist.chk")


def told_not_to(facts: Facts) -> Iterator[Outcome]:
    yield NotVerified("--no-hash")


def half(facts: Facts) -> Iterator[Outcome]:
    yield Passed("a: 1 file against checklist.chk")
    yield NotVerified("no checklist.chk in b")


def quiet(facts: Facts) -> Iterator[Outcome]:
    return iter(())


CHECKS = [
    make("needs-url", must_not_run, requires=(HAS_URL,)),
    make("looks", looks),
    make("nothing-there", nothing_there),
    make("told-not-to", told_not_to),
    make("half", half),
    make("quiet", quiet, checked="RAM and disk"),
]


def test_each_status_carries_what_was_looked_at_or_why_not() -> None:
    results = {r.check.id: r for r in run(linux_gpu(), CHECKS).results}
    assert (results["needs-url"].status, results["needs-url"].reason) == (Status.NOT_APPLICABLE, "no --url given")
    assert (results["looks"].status, results["looks"].checked) == (Status.PASSED, "3 shards against checklist.chk")
    assert (results["nothing-there"].status, results["nothing-there"].unverified) == (Status.NOT_APPLICABLE, "")
    told = results["told-not-to"]
    assert (told.status, told.reason, told.unverified) == (
        Status.NOT_APPLICABLE,
        "not verified: --no-hash",
        "--no-hash",
    )
    assert results["half"].status is Status.PASSED and results["half"].unverified == "no checklist.chk in b"
    assert (results["quiet"].status, results["quiet"].checked) == (Status.PASSED, "RAM and disk")


def test_the_verdict_counts_what_ran_and_names_what_was_not_verified() -> None:
    report = run(linux_gpu(), CHECKS)
    assert report.checks_run == 3
    assert report.tally() == "3 checks passed, 3 not applicable"
    assert report.verdict() == (
        "the machine is set up for Llama on CUDA; no model folder to run was found: give one "
        "with --model-dir; not verified: told-not-to (--no-hash), "
        "half (no checklist.chk in b)"
    )


def test_human_output_lists_inapplicable_checks_only_with_v() -> None:
    report = run(linux_gpu(), CHECKS)
    plain, verbose = (Console(file=io.StringIO(), width=200, color_system=None) for _ in range(2))
    render_human(report, plain)
    render_human(report, verbose, verbose=True)
    short, long = plain.file.getvalue(), verbose.file.getvalue()  # type: ignore[attr-defined]
    assert "needs-url" not in short and "nothing-there" not in short
    assert " ✓ looks\n" in short and "· told-not-to  not verified: --no-hash" in short
    assert "3 checks passed, 3 not applicable (-v shows them)" in short
    assert "· needs-url  not applicable: no --url given" in long
    assert "✓ looks  3 shards against checklist.chk" in long
    assert "✓ half  a: 1 file against checklist.chk; not verified: no checklist.chk in b" in long
    assert "(-v shows them)" not in long


def test_checks_left_out_by_only_or_skip_are_listed_as_skipped() -> None:
    skipped = left_out(CHECKS, only=["looks", "quiet"], skip=["quiet"])
    assert skipped == {
        "needs-url": "not in --only",
        "nothing-there": "not in --only",
        "told-not-to": "not in --only",
        "half": "not in --only",
        "quiet": "--skip",
    }
    report = run(linux_gpu(), CHECKS, skipped=skipped)
    assert report.verdict() == "no problem found by the 1 check run"
    console = Console(file=io.StringIO(), width=200, color_system=None)
    render_human(report, console)
    assert "quiet" not in console.file.getvalue()  # type: ignore[attr-defined]
    assert {c["check"]: c["reason"] for c in to_data(report)["checks"]}["quiet"] == "--skip"


def test_json_and_markdown_carry_every_status_with_its_words() -> None:
    report = run(linux_gpu(), CHECKS)
    checks = {c["check"]: c for c in to_data(report)["checks"]}
    assert checks["looks"]["status"] == "passed" and checks["looks"]["checked"] == "3 shards against checklist.chk"
    assert checks["needs-url"]["status"] == "not-applicable" and checks["needs-url"]["reason"] == "no --url given"
    assert to_data(report)["summary"]["not_verified"] == ["told-not-to (--no-hash)", "half (no checklist.chk in b)"]
    markdown = render_markdown(report)
    assert "- `looks` passed: 3 shards against checklist.chk" in markdown
    assert "- `needs-url` not-applicable: no --url given" in markdown


def test_each_model_folder_says_how_it_was_found() -> None:
    searched = Searched("/home/ada/llama", 1, "/home/ada/.llama/checkpoints", "/home/ada/.cache/huggingface/hub")
    found = {
        "/m/given": "given",
        "/home/ada/llama": "repo",
        "/home/ada/llama/llama-2-7b": "repo",
        "/home/ada/llama/old/run/llama-2-13b": "repo",
        "/home/ada/.llama/checkpoints/Llama3.1-8B": "llama-home",
        "/home/ada/.cache/huggingface/hub/models--x/snapshots/1": "hf-cache",
    }
    words = [how_found(ModelDir(path, "meta", source=source), searched) for path, source in found.items()]
    assert words == [
        "given with --model-dir",
        "the repo folder itself",
        "found in the subfolders of /home/ada/llama",
        "found 3 levels under /home/ada/llama",
        "found in ~/.llama/checkpoints",
        "found in the Hugging Face cache",
    ]
    facts = dataclasses.replace(linux_gpu(), searched=searched)
    assert examined_lines(facts) == [
        ("Repo", "/home/ada/llama (no download.sh or Meta code)"),
        (
            "Models",
            "none found in /home/ada/llama and its subfolders, ~/.llama/checkpoints or the Hugging Face "
            "cache (/home/ada/.cache/huggingface/hub)",
        ),
    ]


def test_a_failed_probe_skips_the_checks_that_read_its_facts() -> None:
    from llamadoctor.facts import Memory
    from llamadoctor.registry import CHECKS, all_checks

    all_checks()
    facts = dataclasses.replace(
        linux_gpu(),
        memory=Memory(0, 0),
        probe_errors={"files": "timed out after 10.0 s", "memory": "OSError: no /proc"},
    )
    report = run(facts, [CHECKS[i] for i in ("model-dir-incomplete", "download-script-crlf", "ram-low", "disk-low")])
    statuses = {r.check.id: (r.status, r.reason) for r in report.results}
    assert statuses == {
        "model-dir-incomplete": (Status.SKIPPED, "the files probe failed (timed out after 10.0 s)"),
        "download-script-crlf": (Status.SKIPPED, "the files probe failed (timed out after 10.0 s)"),
        "ram-low": (Status.SKIPPED, "the memory probe failed (OSError: no /proc)"),
        "disk-low": (Status.PASSED, ""),
    }
