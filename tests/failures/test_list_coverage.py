"""`llamadoctor list --failures` as a user reads it: every failure with what sees, fixes and handles it, whole at 80
columns; the same as JSON and as the README's table, which must not go stale."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from llamadoctor import coverage
from llamadoctor.cli import app
from llamadoctor.failures import FAILURES

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- coverage table: start -->", "<!-- coverage table: end -->"


def _list(*args: str, columns: int = 80) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["list", "--failures", *args], env={"COLUMNS": str(columns)})
    return result.exit_code, result.stdout, result.stderr


def _columns(out: str) -> tuple[list[str], str]:
    """The table's left cells (one per line) and its right column's text, rewrapped onto one line."""
    rows = [line.split("│") for line in out.splitlines() if "│" in line]
    left = [row[0].strip() for row in rows if row[0].strip()]
    right = " ".join(" ".join(row[1].split()) for row in rows if len(row) > 1)
    return left, right


def test_every_failure_is_listed_whole_at_80_columns() -> None:
    code, out, _ = _list()
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "…" not in out
    left, right = _columns(out)
    ids = [f.id for f in FAILURES]
    assert [cell for cell in left if cell in ids] == ids  # ids in catalogue order, none split
    for failure in FAILURES:
        assert failure.title in right, failure.id
        for label, ids_ in (("checks", failure.checks), ("fixes", failure.fixes)):
            if ids_:
                assert f"{label}: {', '.join(ids_)}" in right, failure.id
        if failure.runner:
            assert f"run: {failure.runner.does}" in right, failure.id
        if failure.log_only and not failure.checks:
            assert f"log only: {failure.log_only}" in right, failure.id
        assert f"explain: {len(failure.signatures)} log signature" in right, failure.id


def test_the_summary_counts_the_catalogue() -> None:
    _, out, _ = _list(columns=200)
    caught = len([f for f in FAILURES if f.checks])
    fixed = len([f for f in FAILURES if f.fixes])
    log_only = len([f for f in FAILURES if f.log_only and not f.checks])
    assert f"Caught before it bites: {caught} of {len(FAILURES)}; fixed: {fixed}; log only: {log_only};" in out
    assert caught + log_only <= len(FAILURES)


def test_json_gives_the_same_coverage_as_data() -> None:
    code, out, _ = _list("--json")
    assert code == 0
    data = json.loads(out)
    assert data["schema"] == 1 and data["kind"] == "failures"
    assert [f["id"] for f in data["failures"]] == [f.id for f in FAILURES]
    by_id = {f["id"]: f for f in data["failures"]}
    assert by_id["dist-nccl-not-built"]["fixes"] == ["patch-meta-code-gloo"]
    assert by_id["dist-nccl-not-built"]["run"] == "uses gloo where torch has no NCCL"
    assert by_id["chat-role-order"]["log_only"] and not by_id["chat-role-order"]["checks"]
    assert data["summary"]["caught"] == sum(bool(f["checks"]) for f in data["failures"])
    assert data["summary"]["total"] == len(FAILURES)


def test_markdown_without_failures_or_with_json_is_a_usage_error() -> None:
    for args in (["list", "--markdown"], ["list", "--failures", "--json", "--markdown"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2 and "--markdown" in result.stderr, args


def test_markdown_rows_are_one_per_failure() -> None:
    code, out, _ = _list("--markdown")
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    assert [re.match(r"\| `([a-z0-9-]+)`", row).group(1) for row in rows] == [f.id for f in FAILURES]  # type: ignore[union-attr]
    assert all(row.count(" | ") == 5 for row in rows), "a cell broke the table"


def test_the_readme_table_is_the_catalogue_today() -> None:
    """Regenerate with `python -m llamadoctor list --failures --markdown` between the README's two markers."""
    text = README.read_text(encoding="utf-8")
    assert START in text and END in text, "the README lost its coverage table markers"
    table = text.split(START, 1)[1].split(END, 1)[0].strip("\n")
    assert table == coverage.to_markdown().strip("\n"), (
        "the README's coverage table is stale: run `python -m llamadoctor list --failures --markdown`"
        " and paste it between the markers"
    )


def test_one_failure_says_why_only_a_log_shows_it_and_what_run_does() -> None:
    result = CliRunner().invoke(app, ["list", "chat-role-order"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "no check can see it in advance: the order of the chat messages" in result.stdout
    assert "llamadoctor run: refuses the dialog with Meta's message" in result.stdout
