"""One report for a whole job: each rank's own checks, the cross-rank checks, and the facts that differ between
nodes, as text for people and as JSON (`ranks[]`) for machines. Pure: rank 0 calls it with what it received."""

from __future__ import annotations

import json
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional

from rich.console import Console
from rich.table import Table
from rich.text import Text

from llamadoctor import __version__
from llamadoctor.engine import Report, run
from llamadoctor.job import JobCheck, JobFacts, RankFacts, ranks_text
from llamadoctor.jsonable import document
from llamadoctor.model import Check, Finding, NotApplicable, Passed, Severity, Status
from llamadoctor.redact import safe_text
from llamadoctor.report import MARKS, fenced, summary_lines, to_data

_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "blue"}


@dataclass(frozen=True)
class JobResult:
    check: JobCheck
    status: Status
    findings: tuple[Finding, ...] = ()
    checked: str = ""
    reason: str = ""
    detail: str = ""


def judge(spec: JobCheck, job: JobFacts) -> JobResult:
    """What one cross-rank check concludes; a check that raises is a crash, as in the per-rank engine."""
    findings, checked, reasons = [], [], []
    try:
        for outcome in spec.func(job):
            if isinstance(outcome, Finding):
                findings.append(outcome)
            elif isinstance(outcome, Passed):
                checked.append(outcome.checked)
            elif isinstance(outcome, NotApplicable):
                reasons.append(outcome.reason)
    except Exception as exc:
        crash = spec.finding(f"the check itself failed ({type(exc).__name__}: {exc}); this is a bug in llamadoctor")
        return JobResult(spec, Status.CRASHED, (crash,), detail=traceback.format_exc())
    if findings:
        worst = min(findings, key=lambda f: f.severity.rank).severity
        return JobResult(spec, Status(worst.value), tuple(findings), "; ".join(checked))
    if reasons and not checked:
        return JobResult(spec, Status.NOT_APPLICABLE, reason="; ".join(reasons))
    return JobResult(spec, Status.PASSED, checked="; ".join(checked))


@dataclass(frozen=True)
class JobReport:
    job: JobFacts
    reports: Mapping[int, Report]  # rank -> its own check report (ranks whose gathering worked)
    results: tuple[JobResult, ...]

    @property
    def findings(self) -> list[Finding]:
        return sorted((f for r in self.results for f in r.findings), key=lambda f: f.severity.rank)

    def count(self, severity: Severity) -> int:
        own = sum(r.count(severity) for r in self.reports.values())
        return own + sum(1 for f in self.findings if f.severity is severity)

    def exit_code(self, *, strict: bool = False) -> int:
        codes = [r.exit_code(strict=strict) for r in self.reports.values()]
        if any(r.status is Status.CRASHED for r in self.results):
            codes.append(3)
        if self.count(Severity.ERROR) or (strict and self.count(Severity.WARNING)):
            codes.append(1)
        return 3 if 3 in codes else max(codes, default=0)

    def verdict(self) -> str:
        errors, warnings = self.count(Severity.ERROR), self.count(Severity.WARNING)
        answered = len(self.job.healthy_ranks)
        nodes = len(self.job.nodes)
        expected = self.job.nodes_expected
        of = f" of {expected}" if expected and expected > nodes else ""
        head = f"{answered} of {self.job.world} ranks on {nodes}{of} node{'s' if (expected or nodes) != 1 else ''}"
        if errors:
            return f"{head}: {errors} problem{'s' if errors != 1 else ''} block{'s' if errors == 1 else ''} the job"
        tail = f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else ""
        return f"{head}: the job is ready to run{tail}"


def judge_job(
    job: JobFacts, checks: Sequence[Check], job_checks: Sequence[JobCheck], skipped: Optional[Mapping[str, str]] = None
) -> JobReport:
    reports = {r.identity.rank: run(r.facts, checks, skipped=skipped) for r in job.ranks if r.facts is not None}
    return JobReport(job, reports, tuple(judge(c, job) for c in job_checks))


# ---- the facts that differ between nodes --------------------------------------------------------------------

FactRow = Callable[[RankFacts], str]
ROWS: dict[str, FactRow] = {
    "host": lambda r: r.identity.hostname,
    "Python": lambda r: r.facts.python.version if r.facts else "",
    "interpreter": lambda r: r.facts.python.executable if r.facts else "",
    "torch": lambda r: r.runtime.packages.get("torch", "") or (r.facts.torch.version or "" if r.facts else ""),
    "CUDA build": lambda r: (r.facts.torch.cuda or "none") if r.facts else "",
    "NCCL": lambda r: r.runtime.nccl or "none",
    "driver": lambda r: (r.facts.gpu.driver_version or "none") if r.facts else "",
    "GPUs": lambda r: ", ".join(g.name for g in r.facts.gpu.gpus) or "none" if r.facts else "",
    "route interface": lambda r: r.runtime.default_route_ifname or "",
}


def differences(job: JobFacts) -> dict[str, dict[int, str]]:
    """Fact name -> node -> value, for the facts whose values differ between nodes (first rank of each)."""
    firsts = job.first_of_each_node()
    rows: dict[str, FactRow] = dict(ROWS)
    for name in sorted({n for r in firsts for n in r.runtime.packages if n != "torch"}):
        rows[name] = lambda r, n=name: r.runtime.packages.get(n, "not installed")  # type: ignore[misc]
    table = {name: {r.identity.node: read(r) for r in firsts} for name, read in rows.items()}
    return {name: values for name, values in table.items() if len(set(values.values())) > 1}


# ---- people -------------------------------------------------------------------------------------------------


def _rank_findings(report: JobReport) -> dict[int, dict[tuple[str, str, Severity], list[int]]]:
    """node -> (check, message, severity) -> ranks: a finding every rank of a node shares prints once."""
    grouped: dict[int, dict[tuple[str, str, Severity], list[int]]] = {}
    for r in report.job.ranks:
        per = grouped.setdefault(r.identity.node, {})
        own = report.reports.get(r.identity.rank)
        for f in own.findings if own else ():
            if f.severity is not Severity.INFO:
                per.setdefault((f.check, f.message, f.severity), []).append(r.identity.rank)
    return grouped


def render_job_human(report: JobReport, console: Console, *, strict: bool = False) -> None:
    job = report.job
    grouped = _rank_findings(report)
    for node, members in job.nodes.items():
        host = members[0].identity.hostname
        plural = "s" if len(members) > 1 else ""
        console.print(
            Text(f"Node {node} ({host}): rank{plural} {ranks_text(m.identity.rank for m in members)}", style="bold")
        )
        found = grouped.get(node, {})
        for (check, message, severity), ranks in found.items():
            line = Text.assemble(("  ✗ " if severity is Severity.ERROR else "  ! ", _STYLE[severity]), (check, "bold"))
            console.print(line, Text(f" (rank{'s' if len(ranks) > 1 else ''} {ranks_text(ranks)})", style="dim"))
            console.print(Text("    " + safe_text(message), style=_STYLE[severity]))
        if not found:
            console.print(Text("  ✓ every rank's own checks passed", style="green"))
    console.print()
    console.print(Text("Across ranks", style="bold underline"))
    for result in report.results:
        _render_result(result, console)
    table = differences(job)
    if table:
        console.print()
        grid = Table(title="Facts that differ between nodes", title_justify="left", show_edge=False)
        grid.add_column("fact")
        nodes = sorted(job.nodes)
        for node in nodes:
            grid.add_column(f"node {node}")
        for name, values in table.items():
            grid.add_row(name, *(Text(safe_text(values.get(n, ""))) for n in nodes))
        console.print(grid)
    console.print()
    bad = report.exit_code(strict=strict) != 0
    console.print(Text(safe_text(report.verdict()), style="bold red" if bad else "bold green"))


def _render_result(result: JobResult, console: Console) -> None:
    mark, colour = MARKS[result.status]
    note = result.checked if result.status is Status.PASSED else result.reason
    line = Text.assemble((f" {mark} ", colour), (result.check.id, "bold" if result.findings else ""))
    if note:
        line.append("  " + safe_text(note), style="dim")
    console.print(line)
    for f in result.findings:
        console.print(Text("   " + safe_text(f.message), style=_STYLE[f.severity]))
        if f.remedy:
            console.print(Text("     " + safe_text(f.remedy)))


# ---- a bug report ---------------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def render_job_markdown(report: JobReport, *, strict: bool = False) -> str:
    """The job's report to paste into an issue: findings per node, the cross-rank checks, the facts that differ,
    and each node's summary folded away."""
    job, grouped = report.job, _rank_findings(report)
    lines = [f"### llamadoctor {__version__}: {report.verdict()}", ""]
    for node, members in job.nodes.items():
        plural = "s" if len(members) > 1 else ""
        ranks = ranks_text(m.identity.rank for m in members)
        lines.append(f"**Node {node} ({members[0].identity.hostname})**: rank{plural} {ranks}")
        lines.append("")
        found = grouped.get(node, {})
        for (check, message, severity), on in found.items():
            lines.append(
                f"- **{severity.value}** `{check}` (rank{'s' if len(on) > 1 else ''} {ranks_text(on)}): {message}"
            )
        if not found:
            lines.append("- every rank's own checks passed")
        lines.append("")
    lines += ["**Across ranks**", ""]
    for result in report.results:
        note = result.checked if result.status is Status.PASSED else result.reason
        lines.append(f"- `{result.check.id}` {result.status.value}" + (f": {note}" if note else ""))
        for f in result.findings:
            lines.append(f"  - **{f.severity.value}**: {f.message}")
            if f.remedy.strip():
                lines += fenced(f.remedy, indent="    ")
    nodes, table = sorted(job.nodes), differences(job)
    if table:
        lines += ["", "| fact | " + " | ".join(f"node {n}" for n in nodes) + " |", "|---" * (len(nodes) + 1) + "|"]
        lines += [f"| {name} | " + " | ".join(_cell(v.get(n, "")) for n in nodes) + " |" for name, v in table.items()]
    for first in job.first_of_each_node():
        if first.facts is None:
            continue
        rows = summary_lines(first.facts)
        lines += ["", f"<details><summary>node {first.identity.node} ({first.identity.hostname})</summary>", ""]
        lines += ["| | |", "|---|---|", *(f"| {label} | {_cell(value)} |" for label, value in rows), "", "</details>"]
    code = report.exit_code(strict=strict)
    lines += ["", f"exit code {code}"]
    return safe_text("\n".join(lines) + "\n")


# ---- machines -----------------------------------------------------------------------------------------------


def to_job_data(report: JobReport, *, strict: bool = False) -> dict[str, Any]:
    """`check --json` of a job: the job's own checks and findings, and each rank's `check` document in ranks[]."""
    ranks = []
    for r in report.job.ranks:
        own = report.reports.get(r.identity.rank)
        ranks.append({
            "rank": r.identity.rank, "local_rank": r.identity.local_rank, "node": r.identity.node,
            "hostname": r.identity.hostname, "crash": r.crash or None, "seconds": round(r.seconds, 3),
            "runtime": _plain(r.runtime), "report": to_data(own, strict=strict) if own else None,
        })  # fmt: skip
    data = {
        "job": {
            "world": report.job.world,
            "nodes": sorted(report.job.nodes),
            "missing": list(report.job.missing),
            "nodes_joined": report.job.nodes_joined,
            "nodes_expected": report.job.nodes_expected,
            "clocks": {str(k): v for k, v in report.job.clocks.items()},
            "collectives": [_plain(c) for c in report.job.collectives],
        },
        "checks": [
            {"check": r.check.id, "status": r.status.value, "checked": r.checked, "reason": r.reason}
            for r in report.results
        ],
        "findings": [
            {
                "check": f.check,
                "severity": f.severity.value,
                "message": f.message,
                "remedy": f.remedy,
                "evidence": dict(f.evidence),
            }
            for f in report.findings
        ],
        "differences": {
            name: {str(k): v for k, v in values.items()} for name, values in differences(report.job).items()
        },
        "ranks": ranks,
        "summary": {
            "errors": report.count(Severity.ERROR),
            "warnings": report.count(Severity.WARNING),
            "verdict": report.verdict(),
            "exit_code": report.exit_code(strict=strict),
        },
    }
    return document("job", data)


def _plain(value: Any) -> Any:
    from llamadoctor.jsonable import jsonable

    return jsonable(value)


def render_job_json(report: JobReport, *, strict: bool = False) -> str:
    return json.dumps(to_job_data(report, strict=strict), indent=2)
