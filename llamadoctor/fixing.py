"""`llamadoctor fix`: turn findings into plans, show them, apply the allowed ones, prove they worked."""

from __future__ import annotations

import dataclasses
import difflib
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Callable, Optional

from rich.console import Console
from rich.text import Text

from llamadoctor.apply import ApplyError, Entry, apply_actions
from llamadoctor.engine import Report, run_one
from llamadoctor.errors import UsageError
from llamadoctor.facts import Facts
from llamadoctor.model import Action, Applicability, Chmod, Finding, Fix, Manual, RunCommand, Status, WriteFile
from llamadoctor.redact import redact
from llamadoctor.registry import CHECKS, FIXES


@dataclass(frozen=True)
class PlannedFix:
    finding: Finding
    fix: Fix
    actions: tuple[Action, ...]

    @property
    def applicability(self) -> Applicability:
        return self.fix.applicability

    @property
    def changes_files(self) -> bool:
        return any(not isinstance(a, Manual) for a in self.actions)


@dataclass(frozen=True)
class Outcome:
    planned: PlannedFix
    status: str  # "fixed" | "unchanged" | "still-broken" | "failed" | "skipped-unsafe" | "manual"
    detail: str = ""
    entry: Optional[Entry] = None


def plan(report: Report, wanted: Sequence[str] = ()) -> list[PlannedFix]:
    """Plans for the findings of `report`, limited to `wanted` check ids or fix ids when given."""
    unknown = [w for w in wanted if w not in CHECKS and w not in FIXES]
    if unknown:
        raise UsageError(f"unknown check or fix id {unknown[0]!r} (see `llamadoctor list`)")
    planned: list[PlannedFix] = []
    seen: set[tuple[str, tuple[Action, ...]]] = set()
    for finding in report.findings:
        for fix_id in finding.fixes:
            if wanted and finding.check not in wanted and fix_id not in wanted:
                continue
            fix = FIXES[fix_id]
            actions = fix.plan(finding, report.facts)
            if not actions or (fix_id, actions) in seen:
                continue
            seen.add((fix_id, actions))
            planned.append(PlannedFix(finding, fix, actions))
    return planned


def keep_applicable(report: Report) -> Report:
    """The report with each finding's fix ids narrowed to the fixes that plan something for it.

    A check names every fix that may repair its problem; whether one does depends on the case (a folder missing
    its params.json has nothing to re-download), so `check` never offers `llamadoctor fix ID` for nothing.
    """

    def applicable(finding: Finding, fix_id: str) -> bool:
        try:
            return bool(FIXES[fix_id].plan(finding, report.facts))
        except Exception:  # a planner bug must not hide the offer: `fix` then reports the crash
            return True

    results = []
    for result in report.results:
        findings = tuple(
            dataclasses.replace(f, fixes=tuple(i for i in f.fixes if applicable(f, i))) for f in result.findings
        )
        results.append(dataclasses.replace(result, findings=findings))
    return dataclasses.replace(report, results=tuple(results))


def nothing_to_fix(report: Report, wanted: Sequence[str] = ()) -> str:
    """Why `fix` has no plan: the checks asked about pass, or what fails has no automatic repair."""
    found = [f for f in report.findings if not wanted or f.check in wanted or set(f.fixes) & set(wanted)]
    if wanted and not found:
        return f"Nothing to fix for {', '.join(wanted)}: no problem found."
    if wanted:
        checks = ", ".join(dict.fromkeys(f.check for f in found))
        return f"Nothing llamadoctor can repair for {checks}: `llamadoctor check` says what to do by hand."
    rest = "; `llamadoctor check` says what to do by hand about the rest" if found else ""
    return f"Nothing to fix: {report.verdict()}{rest}."


# ---- showing a plan ------------------------------------------------------------------------------------


def _visible(line: str) -> str:
    return line.replace("\r", "␍")


def diff_text(action: WriteFile) -> str:
    before = (action.before or b"").decode("utf-8", "replace").splitlines(keepends=True)
    after = action.after.decode("utf-8", "replace").splitlines(keepends=True)
    lines = difflib.unified_diff(before, after, action.path, action.path)
    return "".join(_visible(line) if line.endswith("\n") else _visible(line) + "\n" for line in lines)


def render_action(action: Action, console: Console, shell: str) -> None:
    if isinstance(action, WriteFile):
        diff = diff_text(action)
        console.print(Text(f"   edit {action.path}" + (f" (mode {stat.filemode(action.mode)})"
                                                       if action.mode is not None else "")))
        for line in diff.splitlines():
            style = "green" if line.startswith("+") else ("red" if line.startswith("-") else "dim")
            console.print(Text("     " + redact(line), style=style), soft_wrap=True)  # diff lines stay whole too
    elif isinstance(action, Chmod):
        console.print(Text(f"   chmod {stat.filemode(action.mode)} {action.path}"))
    elif isinstance(action, RunCommand):
        console.print(Text(f"   run {' '.join(action.argv)}"))
    else:
        console.print(Text("   " + redact(action.text)))
        for command in action.commands:
            # soft_wrap: a command is copied into a shell, so it stays one line however narrow the terminal.
            console.print(Text("     " + redact(command), style="cyan"), soft_wrap=True)


def render_plan(planned: Iterable[PlannedFix], console: Console, shell: str) -> None:
    for item in planned:
        label = {Applicability.SAFE: "safe", Applicability.UNSAFE: "unsafe: needs --unsafe",
                 Applicability.MANUAL: "manual: for you to run"}[item.applicability]
        console.print(Text.assemble((f"{item.fix.id}", "bold"), f" for {item.finding.check} ({label})"))
        console.print(Text("   " + item.fix.summary, style="dim"))
        for action in item.actions:
            render_action(action, console, shell)


# ---- applying ------------------------------------------------------------------------------------------


def apply(planned: Sequence[PlannedFix], *, unsafe: bool, recheck: Callable[[], Facts]) -> list[Outcome]:
    """Apply safe (and, if allowed, unsafe) plans; then re-run each originating check on fresh facts."""
    outcomes: list[Outcome] = []
    applied: list[tuple[PlannedFix, Optional[Entry]]] = []
    for item in planned:
        if item.applicability is Applicability.MANUAL or not item.changes_files:
            outcomes.append(Outcome(item, "manual"))
            continue
        if item.applicability is Applicability.UNSAFE and not unsafe:
            outcomes.append(Outcome(item, "skipped-unsafe", "re-run with --unsafe to apply"))
            continue
        try:
            entry = apply_actions(item.actions, fix_id=item.fix.id, check_id=item.finding.check)
        except ApplyError as exc:
            outcomes.append(Outcome(item, "failed", str(exc)))
            continue
        applied.append((item, entry))
    if applied:
        facts = recheck()
        for item, entry in applied:
            result = run_one(CHECKS[item.finding.check], facts)
            still = [f for f in result.findings if f.message == item.finding.message]
            if result.status is Status.PASSED or not still:
                outcomes.append(Outcome(item, "fixed" if entry else "unchanged", entry=entry))
            else:
                outcomes.append(Outcome(item, "still-broken", still[0].message, entry))
    return outcomes


_OUTCOME_STYLE = {"fixed": ("✓ fixed", "green"), "unchanged": ("✓ already fixed", "green"),
                  "still-broken": ("✗ applied, but the check still fails", "red"),
                  "failed": ("✗ not applied", "red"), "skipped-unsafe": ("- skipped (unsafe)", "yellow"),
                  "manual": ("- manual", "dim")}


def render_outcomes(outcomes: Sequence[Outcome], console: Console) -> None:
    for outcome in outcomes:
        label, style = _OUTCOME_STYLE[outcome.status]
        line = Text.assemble((label, style), f"  {outcome.planned.fix.id} ({outcome.planned.finding.check})")
        if outcome.entry:
            line.append(f"  undo: llamadoctor undo {outcome.entry.id}", style="dim")
        console.print(line, soft_wrap=True)  # the undo command is copied: never broken across lines
        if outcome.detail:
            console.print(Text("   " + redact(outcome.detail), style="dim"), overflow="fold")


def exit_code(outcomes: Sequence[Outcome]) -> int:
    return 1 if any(o.status in ("failed", "still-broken") for o in outcomes) else 0
