"""`llamadoctor list`: the catalogue of checks or of known failures, and one check's or failure's documentation."""

from __future__ import annotations

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from llamadoctor.coverage import summary
from llamadoctor.errors import UsageError
from llamadoctor.failures import FAILURES, Failure, by_id, search
from llamadoctor.model import OS_NAMES
from llamadoctor.registry import CHECKS, FIXES, all_checks


def _platforms(platforms: frozenset[str]) -> str:
    if len(platforms) == len(OS_NAMES):
        return "all"
    return ", ".join(OS_NAMES[p] for p in sorted(platforms))


def render_catalogue(console: Console) -> None:
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("id", no_wrap=True)  # ids are copied into commands: never broken across lines
    table.add_column("severity", no_wrap=True)
    table.add_column("platforms", no_wrap=True)
    table.add_column("summary", overflow="fold")
    for spec in all_checks():
        table.add_row(spec.id, spec.severity.value, _platforms(spec.platforms), spec.summary)
    console.print(table)
    console.print(f"\n{len(CHECKS)} checks, {len(FIXES)} fixes. `llamadoctor list ID` explains one.")


def render_failures(console: Console) -> None:
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("failure", no_wrap=True)  # ids are copied into commands: never broken across lines
    # One wrapped cell for the title and what deals with it: ids wrap between words, never inside one.
    table.add_column("what happens, and what deals with it")
    for failure in FAILURES:
        table.add_row(Text.assemble(failure.id, "\n", (failure.step.value, "dim")), _coverage_text(failure))
    console.print(table)
    console.print(f"\n{summary().line().capitalize()}.")
    console.print(
        f"{len(FAILURES)} known failures. `llamadoctor list ID` explains one; `llamadoctor explain LOG` finds them."
    )


def _coverage_text(failure: Failure) -> Text:
    text = Text(failure.title)
    lines = (
        ("checks", ", ".join(failure.checks) or ("" if failure.log_only else "none yet")),
        ("log only", "" if failure.checks else failure.log_only),
        ("fixes", ", ".join(failure.fixes)),
        ("run", failure.runner.does if failure.runner else ""),
        ("explain", f"{len(failure.signatures)} log signature{'s' if len(failure.signatures) != 1 else ''}"),
    )
    for label, value in lines:
        if value:
            text.append(f"\n{label}: {value}", style="dim")
    return text


def explain_failure(failure: Failure, console: Console) -> None:
    console.print(f"[bold]{failure.id}[/bold]: {escape(failure.title)}")
    console.print(f"a failure of the {failure.step.value} step, as `llamadoctor explain` finds it in a log\n")
    console.print(Text.assemble(("Cause: ", "bold"), failure.fill(failure.cause, {})))
    console.print(Text.assemble(("Fix: ", "bold"), failure.fill(failure.fix, {})))
    for command in failure.commands:
        console.print(Text("    " + failure.fill(command, {})), soft_wrap=True)
    if failure.windows_commands:
        console.print("In PowerShell:")
        for command in failure.windows_commands:
            console.print(Text("    " + failure.fill(command, {})), soft_wrap=True)
    console.print(Text.assemble(("Seen in logs as:", "bold")))
    for line in dict.fromkeys(hit.line.strip() for example in failure.matches for hit in search([failure], example)):
        console.print(Text("    " + line), soft_wrap=True)
    for label, ids in (("checks", failure.checks), ("fixes", failure.fixes)):
        if ids:
            console.print(f"{label}: {', '.join(ids)}")
    if failure.log_only and not failure.checks:
        console.print(Text(f"no check can see it in advance: {failure.log_only}"))
    if failure.runner:
        console.print(Text(f"llamadoctor run: {failure.runner.does}"))


def explain(check_id: str, console: Console) -> None:
    checks = {c.id: c for c in all_checks()}
    spec = checks.get(check_id)
    if spec is None and check_id in by_id():
        explain_failure(by_id()[check_id], console)
        return
    if spec is None:
        raise UsageError(
            f"unknown check id or failure id {check_id!r} (see `llamadoctor list` and `llamadoctor list --failures`)"
        )
    console.print(f"[bold]{spec.id}[/bold]: {spec.summary}")
    console.print(f"severity {spec.severity.value}; group {spec.group.value}; platforms {_platforms(spec.platforms)}\n")
    body = spec.doc
    for section in ("What it checks:", "Why it matters:", "How to fix:"):
        body = body.replace(section, f"\n**{section}**")
    console.print(Markdown(body))
    for fix_id in spec.fixes:
        fix = FIXES[fix_id]
        console.print(f"\nfix [bold]{fix.id}[/bold] ({fix.applicability.value}): {fix.summary}")
