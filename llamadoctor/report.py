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
from llamadoctor.engine import CheckResult, Report, left_out_by_user
from llamadoctor.facts import Facts
from llamadoctor.files import ModelDir, Searched
from llamadoctor.i18n import _
from llamadoctor.jsonable import SCHEMA as SCHEMA  # the schema number other reporters share
from llamadoctor.jsonable import document
from llamadoctor.llama.quantized import folder_quantization
from llamadoctor.model import Group, Severity, Status
from llamadoctor.redact import safe_text
from llamadoctor.wrapping import remedy_lines

MARKS = {  # each status's mark and colour, in every human report (one machine's or a job's)
    Status.PASSED: ("✓", "green"),
    Status.INFO: ("i", "blue"),
    Status.WARNING: ("!", "yellow"),
    Status.ERROR: ("✗", "red"),
    Status.CRASHED: ("✗", "magenta"),
    Status.SKIPPED: ("-", "dim"),
    Status.NOT_APPLICABLE: ("·", "dim"),
}
_SEVERITY_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "blue"}


def gib(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB"


def summary_lines(facts: Facts) -> list[tuple[str, str]]:
    p, py, torch, gpu = facts.platform, facts.python, facts.torch, facts.gpu
    system = f"{p.os} {p.release} ({p.machine}{', WSL' if p.wsl else ''})"
    python = f"{py.version} ({py.machine}, {py.kind}) {py.executable}"
    if not torch.installed:
        torch_line = _("not installed")
    else:
        build = f"CUDA {torch.cuda}" if torch.cuda else (f"ROCm {torch.hip}" if torch.hip else _("CPU build"))
        how = (
            _("{version} ({build}) from its import")
            if torch.source == "import"
            else _("{version} ({build}) from its files")
        )
        torch_line = how.format(version=torch.version, build=build)
    if gpu.gpus:
        names = ", ".join(f"{g.name} {gib(g.memory_total)}" for g in gpu.gpus)
        gpu_line = _("{gpus}; driver {driver} (CUDA ≤ {cuda})").format(
            gpus=names, driver=gpu.driver_version, cuda=gpu.driver_cuda
        )
    else:
        gpu_line = "Apple Silicon (MPS)" if gpu.apple_silicon else _("no NVIDIA GPU found")
    memory = _("RAM {free} free of {total}; disk {disk_free} free at {path}").format(
        free=gib(facts.memory.ram_available),
        total=gib(facts.memory.ram_total),
        disk_free=gib(facts.disk.free),
        path=facts.disk.path,
    )
    return [
        (_("System"), system),
        ("Python", python),
        ("PyTorch", torch_line),
        ("GPU", gpu_line),
        (_("Memory"), memory),
    ]


# ---- what was examined -------------------------------------------------------------------------------------


def how_found(model: ModelDir, searched: Searched) -> str:
    """How a model folder came to be examined, in words."""
    if model.source == "given":
        return _("given with --model-dir")
    if model.source == "llama-home":
        return _("found in ~/.llama/checkpoints")
    if model.source == "hf-cache":
        return _("found in the Hugging Face cache")
    depth = _levels_under(model.path, searched.repo)
    if depth == 0:
        return _("the repo folder itself")
    if depth == 1:
        return _("found in the subfolders of {repo}").format(repo=searched.repo)
    if depth is not None:
        return _("found {depth} levels under {repo}").format(depth=depth, repo=searched.repo)
    return _("found inside a given folder")


def _stored_kind(model: ModelDir) -> str:
    kind = folder_quantization(model.params)
    return "" if kind is None else _("; {kind} weights written by `llamadoctor convert --quantize`").format(kind=kind)


def _levels_under(path: str, root: str) -> int | None:
    path, root = path.replace("\\", "/").rstrip("/"), root.replace("\\", "/").rstrip("/")
    if not root:
        return None
    if path == root:
        return 0
    return path[len(root) + 1 :].count("/") + 1 if path.startswith(root + "/") else None


def _where_searched(searched: Searched) -> str:
    if searched.depth == 0:
        where = _("{repo}, ~/.llama/checkpoints or the Hugging Face cache ({cache})")
    elif searched.depth == 1:
        where = _("{repo} and its subfolders, ~/.llama/checkpoints or the Hugging Face cache ({cache})")
    else:
        where = _("{repo} and {depth} levels of subfolders, ~/.llama/checkpoints or the Hugging Face cache ({cache})")
    return where.format(repo=searched.repo, depth=searched.depth, cache=searched.hf_cache)


def _repo_path(facts: Facts) -> str:
    return facts.searched.repo or (facts.repo.path if facts.repo else "")


def examined_lines(facts: Facts) -> list[tuple[str, str]]:
    """The repo folder and each model folder the report speaks for, with how each was found."""
    lines = []
    repo = _repo_path(facts)
    if repo:
        found = [
            name
            for name, there in (
                ("download.sh", facts.repo and facts.repo.download_script),
                (_("Meta's reference code"), facts.repo and facts.repo.flavour),
            )
            if there
        ]
        what = _(", ").join(found) if found else _("no download.sh or Meta code")
        lines.append((_("Repo"), f"{repo} ({what})"))
    models = [f"{m.path} ({how_found(m, facts.searched)}{_stored_kind(m)})" for m in facts.models]
    if not models and facts.searched.repo:
        models = [_("none found in {where}").format(where=_where_searched(facts.searched))]
    lines += [(_("Models") if n == 0 else "", text) for n, text in enumerate(models)]
    return lines


def examined_data(facts: Facts) -> dict[str, Any]:
    searched = facts.searched
    return {
        "python": facts.python.executable,
        "repo": _repo_path(facts),
        "search_depth": searched.depth,
        "llama_home": searched.llama_home,
        "hf_cache": searched.hf_cache,
        "models": [{"path": m.path, "source": m.source, "found": how_found(m, searched)} for m in facts.models],
    }


# ---- people ------------------------------------------------------------------------------------------------


def _shown(result: CheckResult, verbose: bool) -> bool:
    """Without -v, checks that did not apply, and those --only/--skip left out, are counted but not listed."""
    hidden = (result.status is Status.NOT_APPLICABLE and not result.unverified) or left_out_by_user(result)
    return verbose or not hidden


def render_human(report: Report, console: Console, *, verbose: bool = False, strict: bool = False) -> None:
    table = Table.grid(padding=(0, 2))
    for label, value in summary_lines(report.facts) + examined_lines(report.facts):
        table.add_row(Text(label, style="bold"), Text(safe_text(value)))
    console.print(table)
    for group in Group:
        results = [r for r in report.results if r.check.group is group and _shown(r, verbose)]
        if not results:
            continue
        console.print()
        console.print(Text(_(group.value), style="bold underline"))
        for result in results:
            _render_result(result, console, verbose)
    if verbose:
        _render_timings(report.facts, console)
    console.print()
    hidden = sum(1 for r in report.results if not _shown(r, False))
    console.print(Text(report.tally() + (_(" (-v shows them)") if hidden and not verbose else ""), style="dim"))
    style = (
        "bold red"
        if not report.ready or report.crashed
        else ("bold yellow" if strict and report.count(Severity.WARNING) else "bold green")
    )
    console.print(Text(safe_text(report.verdict()), style=style))


def _words(result: CheckResult) -> str:
    """What a check looked at, or why it did not."""
    if result.status is Status.PASSED:
        return "; ".join(part for part in (result.checked, result.reason) if part)
    if result.status in (Status.SKIPPED, Status.NOT_APPLICABLE):
        return result.reason
    return _("not verified: {what}").format(what=result.unverified) if result.unverified else ""


def _status_note(result: CheckResult, verbose: bool) -> str:
    """The words after a check's id: why it did not run; with -v, what a passed check looked at."""
    if result.status is Status.SKIPPED:
        return _("skipped: {reason}").format(reason=result.reason)
    if result.status is Status.NOT_APPLICABLE and not result.unverified:
        return _("not applicable: {reason}").format(reason=result.reason)
    return _words(result) if verbose or result.status is not Status.PASSED else ""


def _render_result(result: CheckResult, console: Console, verbose: bool) -> None:
    mark, colour = MARKS[result.status]
    line = Text.assemble((f" {mark} ", colour), (result.check.id, "bold" if result.findings else ""))
    note = _status_note(result, verbose)
    if note:  # beside the id, wrapping under itself on a narrow terminal
        row = Table.grid(padding=(0, 2))
        row.add_column(no_wrap=True)
        row.add_column()
        row.add_row(line, Text(safe_text(note), style="dim"))
        console.print(row)
    else:
        console.print(line)
    for finding in result.findings:
        console.print(Padding(Text(safe_text(finding.message), style=_SEVERITY_STYLE[finding.severity]), (0, 0, 0, 3)))
        # A remedy's commands stay whole however narrow the terminal (which then folds them only on screen);
        # its prose wraps at words under its indent.
        for remedy_line, _kind in remedy_lines(safe_text(finding.remedy), console.width):
            console.print(Text(remedy_line), soft_wrap=True)
        if finding.fixes:
            repair = _("repair: {command}").format(command=f"llamadoctor fix {result.check.id}")
            console.print(Padding(Text(repair, style="dim"), (0, 0, 0, 5)))
    if verbose and result.status is Status.CRASHED:
        console.print(Text(safe_text(result.detail), style="dim"))


def _render_timings(facts: Facts, console: Console) -> None:
    console.print()
    table = Table(title=_("Probes"), title_justify="left", show_edge=False)
    table.add_column(_("probe"))
    table.add_column(_("seconds"), justify="right")
    table.add_column(_("note"))
    for name, seconds in sorted(facts.timings.items(), key=lambda kv: -kv[1]):
        table.add_row(name, f"{seconds:.3f}", Text(safe_text(facts.probe_errors.get(name, ""))))
    console.print(table)


def to_data(report: Report, *, strict: bool = False) -> dict[str, Any]:
    """The stable --json document (schema 1, documented in the README)."""
    findings = [
        {
            "check": f.check,
            "severity": f.severity.value,
            "message": f.message,
            "fixes": list(f.fixes),
            "remedy": f.remedy,
            "evidence": dict(f.evidence),
        }
        for f in report.findings
    ]
    data = {
        "facts": report.facts.to_json(),
        "findings": findings,
        "examined": examined_data(report.facts),
        "checks": [_check_data(r) for r in report.results],
        "summary": {
            "errors": report.count(Severity.ERROR),
            "warnings": report.count(Severity.WARNING),
            "checks_run": report.checks_run,
            "passed": len(report.with_status(Status.PASSED)),
            "not_applicable": len(report.with_status(Status.NOT_APPLICABLE)),
            "skipped": len(report.with_status(Status.SKIPPED)),
            "not_verified": report.not_verified,
            "ready": report.ready,
            "device": report.device,
            "verdict": report.verdict(),
            "exit_code": report.exit_code(strict=strict),
        },
    }
    return document("check", data)


def _check_data(result: CheckResult) -> dict[str, Any]:
    crash = result.detail.splitlines()[-1] if result.detail.strip() else ""
    return {
        "check": result.check.id,
        "status": result.status.value,
        "checked": result.checked,
        "reason": result.reason,
        "not_verified": result.unverified,
        "detail": crash or result.reason,
    }


def render_json(report: Report, *, strict: bool = False) -> str:
    return json.dumps(to_data(report, strict=strict), indent=2, sort_keys=False)


def fenced(text: str, indent: str) -> list[str]:
    """A code block showing `text` as the terminal does; the fence is longer than any backtick run in it
    (PowerShell continues lines with a backtick, and remedies quote commands in backticks)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [indent + fence, *(indent + line for line in text.strip("\n").splitlines()), indent + fence]


def render_markdown(report: Report) -> str:
    """A report to paste into a GitHub issue: facts as a table, findings as a list."""
    lines = [f"### llamadoctor {__version__}: {report.verdict()}", "", "| | |", "|---|---|"]
    rows = summary_lines(report.facts) + examined_lines(report.facts)
    lines += [f"| {label} | {value.replace('|', '/')} |" for label, value in rows]
    lines.append("")
    for f in report.findings:
        lines.append(f"- **{f.severity.value}** `{f.check}`: {f.message}")
        if f.remedy.strip():
            lines += fenced(f.remedy, indent="  ")
    if not report.findings:
        lines.append(_("No problems found."))
    lines += ["", f"<details><summary>{report.tally()}</summary>", ""]
    lines += [
        f"- `{r.check.id}` {r.status.value}" + (f": {words}" if words else "")
        for r in report.results
        for words in [_words(r)]
    ]
    lines += ["", "</details>"]
    return safe_text("\n".join(lines) + "\n")


def render_quiet(report: Report, console: Console) -> None:
    """`check -q`: the errors, one line each, and the verdict."""
    for finding in report.findings:
        if finding.severity is Severity.ERROR:
            console.print(Text.assemble((" ✗ ", "red"), (finding.check, "bold"), ": ", safe_text(finding.message)))
    console.print(Text(safe_text(report.verdict()), style="bold red" if not report.ready else "bold green"))
