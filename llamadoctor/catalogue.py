"""`llamadoctor list`: the catalogue of checks, and one check's documentation."""

from __future__ import annotations

from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from llamadoctor.errors import UsageError
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


def explain(check_id: str, console: Console) -> None:
    checks = {c.id: c for c in all_checks()}
    spec = checks.get(check_id)
    if spec is None:
        raise UsageError(f"unknown check id {check_id!r} (see `llamadoctor list`)")
    console.print(f"[bold]{spec.id}[/bold]: {spec.summary}")
    console.print(f"severity {spec.severity.value}; group {spec.group.value}; platforms {_platforms(spec.platforms)}\n")
    body = spec.doc
    for section in ("What it checks:", "Why it matters:", "How to fix:"):
        body = body.replace(section, f"\n**{section}**")
    console.print(Markdown(body))
    for fix_id in spec.fixes:
        fix = FIXES[fix_id]
        console.print(f"\nfix [bold]{fix.id}[/bold] ({fix.applicability.value}): {fix.summary}")
