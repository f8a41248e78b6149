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

from llamadoctor.apply import ApplyError, Entry, ReadOnlyError, apply_actions
from llamadoctor.engine import Report, run
from llamadoctor.errors import UsageError
from llamadoctor.facts import Facts
from llamadoctor.files import mode_text
from llamadoctor.i18n import N_, _, ngettext
from llamadoctor.model import (
    Action,
    Applicability,
    Chmod,
    Finding,
    Fix,
    Manual,
    RunCommand,
    Severity,
    Status,
    WriteFile,
)
from llamadoctor.output import did_you_mean
from llamadoctor.redact import redact
from llamadoctor.registry import CHECKS, FIXES
from llamadoctor.shell import render_argv


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
        hint = did_you_mean(unknown[0], [*CHECKS, *FIXES])
        # TRANSLATORS: {hint} is empty or " (did you mean 'x'?)", translated on its own.
        raise UsageError(
            _("unknown check or fix id {id}{hint} (see `llamadoctor list`)").format(id=repr(unknown[0]), hint=hint)
        )
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


def in_scope(finding: Finding, wanted: Sequence[str]) -> bool:
    """Whether `fix ID...` is about this finding (`fix` alone is about all of them)."""
    return not wanted or finding.check in wanted or bool(set(finding.fixes) & set(wanted))


def nothing_to_fix(report: Report, wanted: Sequence[str] = ()) -> str:
    """Why `fix` has no plan: the checks asked about pass, or what fails has no automatic repair."""
    found = [f for f in report.findings if in_scope(f, wanted)]
    if wanted and not found:
        return _("Nothing to fix for {ids}: no problem found.").format(ids=_(", ").join(wanted))
    if wanted:
        checks = _(", ").join(dict.fromkeys(f.check for f in found))
        return _("Nothing llamadoctor can repair for {checks}: `llamadoctor check` says what to do by hand.").format(
            checks=checks
        )
    if found:
        return _("Nothing to fix: {verdict}; `llamadoctor check` says what to do by hand about the rest.").format(
            verdict=report.verdict()
        )
    return _("Nothing to fix: {verdict}.").format(verdict=report.verdict())


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
        if action.mode is not None:
            edit = _("edit {path} (mode {mode})").format(path=action.path, mode=mode_text(action.mode))
        else:
            edit = _("edit {path}").format(path=action.path)
        console.print(Text("   " + edit))
        for line in diff.splitlines():
            style = "green" if line.startswith("+") else ("red" if line.startswith("-") else "dim")
            console.print(Text("     " + redact(line), style=style), soft_wrap=True)  # diff lines stay whole too
    elif isinstance(action, Chmod):
        chmod = f"   chmod {stat.S_IMODE(action.mode):o} {action.path}  ({mode_text(action.mode)})"
        console.print(Text(chmod), soft_wrap=True)  # a command to copy: never broken
    elif isinstance(action, RunCommand):
        console.print(Text("   " + _("run {command}").format(command=" ".join(action.argv))))
    else:
        console.print(Text("   " + redact(action.text)))
        for command in action.commands:
            # soft_wrap: a command is copied into a shell, so it stays one line however narrow the terminal.
            console.print(Text("     " + redact(command), style="cyan"), soft_wrap=True)


_APPLICABILITY = {
    Applicability.SAFE: N_("safe"),
    Applicability.UNSAFE: N_("unsafe: needs --unsafe"),
    Applicability.MANUAL: N_("manual: for you to run"),
}


def render_plan(planned: Iterable[PlannedFix], console: Console, shell: str) -> None:
    for item in planned:
        label = _(_APPLICABILITY[item.applicability])
        # TRANSLATORS: {fix} and {check} are ids; {label} says whether `fix` applies it by itself.
        head = Text(_("{fix} for {check} ({label})").format(fix=item.fix.id, check=item.finding.check, label=label))
        start = head.plain.find(item.fix.id)
        head.stylize("bold", start, start + len(item.fix.id))
        console.print(head)
        console.print(Text("   " + _(item.fix.summary), style="dim"))
        for action in item.actions:
            render_action(action, console, shell)


# ---- applying ------------------------------------------------------------------------------------------


def would_apply(item: PlannedFix, unsafe: bool) -> bool:
    """Whether `fix` carries this plan out (the others are left for the user)."""
    allowed = item.applicability is Applicability.SAFE or (item.applicability is Applicability.UNSAFE and unsafe)
    return allowed and item.changes_files


def ask(question: str) -> bool:
    """A yes/no question on the terminal; end of input is "no", Ctrl-C stays an interruption."""
    try:
        answer = input(f"{question} [y/N]: ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


@dataclass(frozen=True)
class Summary:
    outcomes: tuple[Outcome, ...]
    left: tuple[Finding, ...]  # the findings asked about that are still there after the fixes, worst first


def apply(
    report: Report,
    planned: Sequence[PlannedFix],
    *,
    unsafe: bool,
    recheck: Callable[[], Facts],
    wanted: Sequence[str] = (),
    write_read_only: bool = False,
) -> Summary:
    """Apply safe (and, if allowed, unsafe) plans; then re-run the checks on fresh facts to see what is left."""
    outcomes: list[Outcome] = []
    applied: list[tuple[PlannedFix, Optional[Entry]]] = []
    for item in planned:
        if item.applicability is Applicability.MANUAL or not item.changes_files:
            outcomes.append(Outcome(item, "manual"))
        elif not would_apply(item, unsafe):
            outcomes.append(Outcome(item, "skipped-unsafe", _("re-run with --unsafe to apply")))
        else:
            try:
                applied.append(
                    (
                        item,
                        apply_actions(
                            item.actions,
                            fix_id=item.fix.id,
                            check_id=item.finding.check,
                            write_read_only=write_read_only,
                        ),
                    )
                )
            except ReadOnlyError as exc:
                again = _("{error} (re-run with --write-read-only to rewrite it)").format(error=exc)
                outcomes.append(Outcome(item, "failed", again))
            except ApplyError as exc:
                outcomes.append(Outcome(item, "failed", str(exc)))
    after = run(recheck(), [r.check for r in report.results], partial=report.partial) if applied else report
    results = {r.check.id: r for r in after.results}
    for item, entry in applied:
        result = results.get(item.finding.check)
        still = [f for f in result.findings if f.message == item.finding.message] if result else []
        if result is not None and result.status is Status.CRASHED:
            still = list(result.findings)  # a check that crashed proves nothing
        if not still:
            outcomes.append(Outcome(item, "fixed" if entry else "unchanged", entry=entry))
        else:
            outcomes.append(Outcome(item, "still-broken", still[0].message, entry))
    return Summary(tuple(outcomes), tuple(f for f in after.findings if in_scope(f, wanted)))


_OUTCOME_STYLE = {
    "fixed": ("✓", N_("fixed"), "green"),
    "unchanged": ("✓", N_("already fixed"), "green"),
    "still-broken": ("✗", N_("applied, but the check still fails"), "red"),
    "failed": ("✗", N_("not applied"), "red"),
}


def render_outcomes(outcomes: Sequence[Outcome], console: Console) -> None:
    """What was applied; what was not is listed by render_left."""
    for outcome in outcomes:
        if outcome.status not in _OUTCOME_STYLE:
            continue
        mark, label, style = _OUTCOME_STYLE[outcome.status]
        line = Text.assemble(
            (f"{mark} {_(label)}", style), f"  {outcome.planned.fix.id} ({outcome.planned.finding.check})"
        )
        if outcome.entry:
            undo = _("undo: {command}").format(command=f"llamadoctor undo {outcome.entry.id}")
            line.append("  " + undo, style="dim")
        console.print(line, soft_wrap=True)  # the undo command is copied: never broken across lines
        if outcome.detail:
            console.print(Text("   " + redact(outcome.detail), style="dim"), soft_wrap=True)


def _what_remains(finding: Finding, outcomes: Sequence[Outcome], again: Sequence[str], shell: str) -> str:
    """How the user can finish off `finding`; "" when there is nothing to say beyond the report."""
    mine = [
        o for o in outcomes if (o.planned.finding.check, o.planned.finding.message) == (finding.check, finding.message)
    ]
    ways = []
    for outcome in mine:
        fix_id = outcome.planned.fix.id
        if outcome.status == "skipped-unsafe":
            command = render_argv(["llamadoctor", "fix", fix_id, *again, "--unsafe"], shell)
            way = _("`{command}` applies {fix}, which edits your files (its diff is above)")
            ways.append(way.format(command=command, fix=fix_id))
        elif outcome.status == "manual":
            ways.append(_("by hand, the steps of {fix} above").format(fix=fix_id))
        elif outcome.status in ("failed", "still-broken"):
            ways.append(_("{fix} did not repair it (see above)").format(fix=fix_id))
    if ways:
        # TRANSLATORS: the separator between the ways to finish off one problem.
        return _("; ").join(ways)
    if finding.severity is Severity.ERROR:
        return _("no automatic repair; `llamadoctor check` says what to do")
    return ""


def render_left(summary: Summary, console: Console, *, again: Sequence[str] = (), shell: str = "bash") -> None:
    """What is still wrong after `fix`, and for each problem how to finish it: `again` are the options that
    select what was diagnosed (--repo and the like), for commands the user re-runs."""
    lines = [(f, how) for f in summary.left if (how := _what_remains(f, summary.outcomes, again, shell))]
    if not lines:
        return
    errors = sum(1 for f in summary.left if f.severity is Severity.ERROR)
    console.print()
    left = ngettext("Left to do ({count} error remains):", "Left to do ({count} errors remain):", errors)
    console.print(Text(left.format(count=errors), style="bold"))
    for finding, how in lines:
        console.print(Text(f"  {finding.check}: {redact(how)}"), soft_wrap=True)


def untouched(report: Report, wanted: Sequence[str] = ()) -> Summary:
    """The summary of a `fix` that changed nothing."""
    return Summary((), tuple(f for f in report.findings if in_scope(f, wanted)))


def exit_code(summary: Summary) -> int:
    """1 while an error remains or a fix failed."""
    failed = any(o.status in ("failed", "still-broken") for o in summary.outcomes)
    return 1 if failed or any(f.severity is Severity.ERROR for f in summary.left) else 0
