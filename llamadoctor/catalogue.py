"""`llamadoctor list`: the catalogue of checks or of known failures, and one check's or failure's documentation."""

from __future__ import annotations

import inspect
import sys
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from llamadoctor.coverage import summary
from llamadoctor.errors import UsageError
from llamadoctor.failures import FAILURES, Failure, by_id, search
from llamadoctor.model import OS_NAMES, Applicability, Fix
from llamadoctor.output import did_you_mean
from llamadoctor.registry import CHECKS, FIXES, all_checks


def _platforms(platforms: frozenset[str]) -> str:
    if len(platforms) == len(OS_NAMES):
        return "all"
    return ", ".join(OS_NAMES[p] for p in sorted(platforms))


def _about(severity: str, platforms: frozenset[str]) -> str:
    """The dim words after a summary: the severity, and the systems when not all."""
    where = _platforms(platforms)
    return severity if where == "all" else f"{severity}, {where} only"


def render_catalogue(console: Console) -> None:
    # Two columns, so the summaries keep the width an 80-column terminal has left after the ids.
    table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 2, 0, 0))
    table.add_column("check", no_wrap=True, style="bold")  # ids are copied into commands: never broken
    table.add_column("summary")
    for spec in all_checks():
        table.add_row(
            spec.id, Text.assemble(spec.summary, (f"  ({_about(spec.severity.value, spec.platforms)})", "dim"))
        )
    console.print(table)
    console.print()
    fixes = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 2, 0, 0))
    fixes.add_column("fix", no_wrap=True, style="bold")
    fixes.add_column("summary")
    for fix in FIXES.values():
        fixes.add_row(fix.id, Text.assemble(fix.summary, (f"  ({fix.applicability.value})", "dim")))
    console.print(fixes)
    console.print(f"\n{len(CHECKS)} checks, {len(FIXES)} fixes. `llamadoctor list ID` explains one.")


def catalogue_data() -> dict[str, Any]:
    """`list --json`: every check and fix, with what `list ID` shows in words."""
    checks = [
        {
            "id": spec.id,
            "summary": spec.summary,
            "severity": spec.severity.value,
            "group": spec.group.value,
            "platforms": sorted(spec.platforms),
            "fixes": list(spec.fixes),
        }
        for spec in all_checks()
    ]
    fixes = [
        {"id": fix.id, "summary": fix.summary, "applicability": fix.applicability.value, "checks": _repairs(fix.id)}
        for fix in FIXES.values()
    ]
    return {"checks": checks, "fixes": fixes}


def _repairs(fix_id: str) -> list[str]:
    return [spec.id for spec in all_checks() if fix_id in spec.fixes]


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


_APPLIED = {
    Applicability.SAFE: "applied by `llamadoctor fix` when you agree, or with --yes",
    Applicability.UNSAFE: "edits your code: applied only with `llamadoctor fix --unsafe`, its diff shown first",
    Applicability.MANUAL: "steps for you to take: `llamadoctor fix` prints them for your shell",
}


def explain_fix(fix: Fix, console: Console) -> None:
    console.print(f"[bold]{fix.id}[/bold]: {escape(fix.summary)}")
    console.print(f"fix, {fix.applicability.value}: {_APPLIED[fix.applicability]}\n")
    doc = inspect.getdoc(fix.func) or (sys.modules[fix.func.__module__].__doc__ or "").strip()
    if doc:
        console.print(Text(doc))
    repairs = _repairs(fix.id)
    if repairs:
        console.print(f"\nrepairs what these checks find: {', '.join(repairs)}")
    failures = [f.id for f in FAILURES if fix.id in f.fixes]
    if failures:
        console.print(f"known failures it deals with: {', '.join(failures)}")
    console.print(f"\n`llamadoctor fix {fix.id} --dry-run` shows what it would change on this machine.")


def explain(check_id: str, console: Console) -> None:
    checks = {c.id: c for c in all_checks()}
    spec = checks.get(check_id)
    if spec is None and check_id in by_id():
        explain_failure(by_id()[check_id], console)
        return
    if spec is None and check_id in FIXES:
        explain_fix(FIXES[check_id], console)
        return
    if spec is None:
        known = [*checks, *FIXES, *by_id()]
        raise UsageError(
            f"unknown check, fix or failure id {check_id!r}{did_you_mean(check_id, known)}",
            "`llamadoctor list` and `llamadoctor list --failures` show them all",
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
