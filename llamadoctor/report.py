"""Reporters: the same Report as rich text for people, JSON for machines, Markdown for bug reports.

Every string passes through redact() on its way out, so no reporter can leak a token or a URL signature, and
every untrusted one (file names, file contents, probe errors) through safe_text() before rich or a terminal
sees it, so an escape sequence in a file name is shown, not obeyed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from llamadoctor import __version__
from llamadoctor.engine import CheckResult, Report
from llamadoctor.facts import Facts
from llamadoctor.model import Group, Severity, Status
from llamadoctor.redact import redact_data, safe_text

SCHEMA = 1
_MARK = {
    Status.PASSED: ("✓", "green"),
    Status.INFO: ("i", "blue"),
    Status.WARNING: ("!", "yellow"),
    Status.ERROR: ("✗", "red"),
    Status.CRASHED: ("✗", "magenta"),
    Status.SKIPPED: ("-", "dim"),
}
_SEVERITY_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "blue"}


def gib(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB"


def summary_lines(facts: Facts) -> list[tuple[str, str]]:
    p, py, torch, gpu = facts.platform, facts.python, facts.torch, facts.gpu
    system = f"{p.os} {p.release} ({p.machine}{', WSL' if p.wsl else ''})"
    python = f"{py.version} ({py.machine}, {py.kind}) {py.executable}"
    if not torch.installed:
        torch_line = "not installed"
    else:
        build = f"CUDA {torch.cuda}" if torch.cuda else (f"ROCm {torch.hip}" if torch.hip else "CPU build")
        torch_line = f"{torch.version} ({build}) from its {'import' if torch.source == 'import' else 'files'}"
    if gpu.gpus:
        names = ", ".join(f"{g.name} {gib(g.memory_total)}" for g in gpu.gpus)
        gpu_line = f"{names}; driver {gpu.driver_version} (CUDA ≤ {gpu.driver_cuda})"
    else:
        gpu_line = "Apple Silicon (MPS)" if gpu.apple_silicon else "no NVIDIA GPU found"
    memory = f"RAM {gib(facts.memory.ram_available)} free of {gib(facts.memory.ram_total)}; " \
             f"disk {gib(facts.disk.free)} free at {facts.disk.path}"
    return [("System", system), ("Python", python), ("PyTorch", torch_line), ("GPU", gpu_line),
            ("Memory", memory)]


def render_human(report: Report, console: Console, *, verbose: bool = False, strict: bool = False) -> None:
    table = Table.grid(padding=(0, 2))
    for label, value in summary_lines(report.facts):
        table.add_row(Text(label, style="bold"), Text(safe_text(value)))
    console.print(table)
    for group in Group:
        results = [r for r in report.results if r.check.group is group]
        if not results:
            continue
        console.print()
        console.print(Text(group.value, style="bold underline"))
        for result in results:
            _render_result(result, console, verbose)
    if verbose:
        _render_timings(report.facts, console)
    console.print()
    style = "bold red" if not report.ready or report.crashed else (
        "bold yellow" if strict and report.count(Severity.WARNING) else "bold green")
    console.print(Text(report.verdict(), style=style))


def _render_result(result: CheckResult, console: Console, verbose: bool) -> None:
    mark, colour = _MARK[result.status]
    line = Text.assemble((f" {mark} ", colour), (result.check.id, "bold" if result.findings else ""))
    if result.status is Status.SKIPPED:  # a passed check's summary names the problem it looks for: not shown
        line.append(f"  skipped: {safe_text(result.detail)}", style="dim")
    console.print(line)
    for finding in result.findings:
        console.print(Padding(Text(safe_text(finding.message), style=_SEVERITY_STYLE[finding.severity]), (0, 0, 0, 3)))
        # A remedy holds the commands to copy: each line stays whole however narrow the terminal (which then
        # wraps it only on screen).
        for remedy_line in safe_text(finding.remedy).splitlines():
            console.print(Text("     " + remedy_line), soft_wrap=True)
        if finding.fixes:
            console.print(Padding(Text(f"repair: llamadoctor fix {result.check.id}", style="dim"), (0, 0, 0, 5)))
    if verbose and result.status is Status.CRASHED:
        console.print(Text(safe_text(result.detail), style="dim"))


def _render_timings(facts: Facts, console: Console) -> None:
    console.print()
    table = Table(title="Probes", title_justify="left", show_edge=False)
    table.add_column("probe")
    table.add_column("seconds", justify="right")
    table.add_column("note")
    for name, seconds in sorted(facts.timings.items(), key=lambda kv: -kv[1]):
        table.add_row(name, f"{seconds:.3f}", Text(safe_text(facts.probe_errors.get(name, ""))))
    console.print(table)


def to_data(report: Report, *, strict: bool = False) -> dict[str, Any]:
    """The stable --json document (schema 1, documented in the README)."""
    findings = [
        {"check": f.check, "severity": f.severity.value, "message": f.message, "fixes": list(f.fixes),
         "remedy": f.remedy, "evidence": dict(f.evidence)}
        for f in report.findings
    ]
    data = {
        "schema": SCHEMA,
        "llamadoctor": __version__,
        "facts": report.facts.to_json(),
        "findings": findings,
        "checks": [{"check": r.check.id, "status": r.status.value, "detail": (r.detail.splitlines()[-1:] and
                    r.detail.splitlines()[-1]) or ""} for r in report.results],
        "summary": {
            "errors": report.count(Severity.ERROR),
            "warnings": report.count(Severity.WARNING),
            "checks_run": report.checks_run,
            "ready": report.ready,
            "device": report.device,
            "verdict": report.verdict(),
            "exit_code": report.exit_code(strict=strict),
        },
    }
    return redact_data(json.loads(json.dumps(data, default=str)))  # type: ignore[no-any-return]


def render_json(report: Report, *, strict: bool = False) -> str:
    return json.dumps(to_data(report, strict=strict), indent=2, sort_keys=False)


def _fenced(text: str, indent: str) -> list[str]:
    """A code block showing `text` as the terminal does; the fence is longer than any backtick run in it
    (PowerShell continues lines with a backtick, and remedies quote commands in backticks)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [indent + fence, *(indent + line for line in text.strip("\n").splitlines()), indent + fence]


def render_markdown(report: Report) -> str:
    """A report to paste into a GitHub issue: facts as a table, findings as a list."""
    lines = [f"### llamadoctor {__version__}: {report.verdict()}", "", "| | |", "|---|---|"]
    lines += [f"| {label} | {value.replace('|', '/')} |" for label, value in summary_lines(report.facts)]
    lines.append("")
    for f in report.findings:
        lines.append(f"- **{f.severity.value}** `{f.check}`: {f.message}")
        if f.remedy.strip():
            lines += _fenced(f.remedy, indent="  ")
    if not report.findings:
        lines.append("No problems found.")
    return safe_text("\n".join(lines) + "\n")
