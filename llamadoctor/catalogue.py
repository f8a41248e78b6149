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
from llamadoctor.failures.model import STEP_NAMES, shown
from llamadoctor.folding import fold, fold_text, is_wide
from llamadoctor.i18n import N_, _, ngettext, paragraphs
from llamadoctor.model import OS_NAMES, Applicability, Check, Fix, Severity
from llamadoctor.output import did_you_mean
from llamadoctor.registry import CHECKS, FIXES, all_checks

# The sections of every check's documentation, in order: each starts a paragraph, its label shown bold.
SECTIONS = (N_("What it checks:"), N_("Why it matters:"), N_("How to fix:"))
_SEVERITY = {Severity.ERROR: N_("error"), Severity.WARNING: N_("warning"), Severity.INFO: N_("info")}
_APPLICABILITY = {
    Applicability.SAFE: N_("safe"),
    Applicability.UNSAFE: N_("unsafe"),
    Applicability.MANUAL: N_("manual"),
}


def doc_paragraphs(doc: str) -> list[str]:
    """A check's or fix's documentation as `list ID` shows it and translators get it: one message a paragraph."""
    return paragraphs(doc, SECTIONS)


def fix_doc(fix: Fix) -> str:
    """What a fix's page says about it: its function's docstring, else its module's."""
    return inspect.getdoc(fix.func) or (sys.modules[fix.func.__module__].__doc__ or "").strip()


def _platforms(platforms: frozenset[str]) -> str:
    if len(platforms) == len(OS_NAMES):
        return _("all")
    return _(", ").join(OS_NAMES[p] for p in sorted(platforms))


def _about(spec: Check) -> str:
    """The dim words after a summary: the severity, and the systems when not all."""
    severity = _(_SEVERITY[spec.severity])
    if len(spec.platforms) == len(OS_NAMES):
        return _("({severity})").format(severity=severity)
    # TRANSLATORS: {systems} is a list of operating systems, as in "(error, Linux, Windows only)".
    return _("({severity}, {systems} only)").format(severity=severity, systems=_platforms(spec.platforms))


def _summary_column(table: Table) -> None:
    # A run with nowhere to break (a long name, a path) folds where the cell ends rather than losing its end.
    table.add_column(_("summary"), overflow="fold")


def render_catalogue(console: Console) -> None:
    # Two columns, so the summaries keep the width an 80-column terminal has left after the ids.
    table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(_("check"), no_wrap=True, style="bold")  # ids are copied into commands: never broken
    _summary_column(table)
    for spec in all_checks():
        table.add_row(spec.id, Text.assemble(_(spec.summary), ("  " + _about(spec), "dim")))
    console.print(table)
    console.print()
    fixes = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 2, 0, 0))
    fixes.add_column(_("fix"), no_wrap=True, style="bold")
    _summary_column(fixes)
    for fix in FIXES.values():
        applicability = _("({applicability})").format(applicability=_(_APPLICABILITY[fix.applicability]))
        fixes.add_row(fix.id, Text.assemble(_(fix.summary), ("  " + applicability, "dim")))
    console.print(fixes)
    counts = _("{checks}, {fixes}. `llamadoctor list ID` explains one.").format(
        checks=ngettext("{count} check", "{count} checks", len(CHECKS)).format(count=len(CHECKS)),
        fixes=ngettext("{count} fix", "{count} fixes", len(FIXES)).format(count=len(FIXES)),
    )
    console.print(Text("\n" + counts))


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
    table.add_column(_("failure"), no_wrap=True)  # ids are copied into commands: never broken across lines
    # One wrapped cell for the title and what deals with it: ids wrap between words, never inside one.
    table.add_column(_("what happens, and what deals with it"))
    width = console.width - max(len(f.id) for f in FAILURES) - 3  # what the ids and the rule leave to the cell
    for failure in FAILURES:
        step = Text.assemble(failure.id, "\n", (_(STEP_NAMES[failure.step]), "dim"))
        table.add_row(step, _coverage_text(failure, width))
    console.print(table)
    console.print(f"\n{summary().line()}")
    console.print(
        ngettext(
            "{count} known failure. `llamadoctor list ID` explains one; `llamadoctor explain LOG` finds them.",
            "{count} known failures. `llamadoctor list ID` explains one; `llamadoctor explain LOG` finds them.",
            len(FAILURES),
        ).format(count=len(FAILURES))
    )


def _folded(line: str, width: int) -> str:
    """Chinese folded between characters to the cell's `width` (rich would break it only at its spaces)."""
    return fold(line, width) if is_wide(line) else line


def _coverage_text(failure: Failure, width: int) -> Text:
    text = Text(_folded(shown(failure.title), width))
    count = len(failure.signatures)
    lines = (
        _("checks: {ids}").format(ids=", ".join(failure.checks)) if failure.checks else "",
        _("checks: none yet") if not failure.checks and not failure.log_only else "",
        _("log only: {why}").format(why=shown(failure.log_only)) if failure.log_only and not failure.checks else "",
        _("fixes: {ids}").format(ids=", ".join(failure.fixes)) if failure.fixes else "",
        # TRANSLATORS: what `llamadoctor run` does about a failure
        _("run: {does}").format(does=shown(failure.runner.does)) if failure.runner else "",
        ngettext("explain: {count} log signature", "explain: {count} log signatures", count).format(count=count),
    )
    for line in lines:
        if line:
            text.append("\n" + _folded(line, width), style="dim")
    return text


def _paragraph(console: Console, label: str, text: str) -> None:
    """A bold label and its text, folded at the console's width; Chinese folds between characters."""
    paragraph = Text.assemble((label, "bold"), text)
    console.print(fold_text(paragraph, console.width - 1) if is_wide(paragraph.plain) else paragraph)


def explain_failure(failure: Failure, console: Console) -> None:
    title = shown(failure.title)
    if is_wide(title):
        console.print(fold_text(Text.assemble((failure.id, "bold"), ": ", title), console.width - 1))
    else:
        console.print(f"[bold]{failure.id}[/bold]: {escape(title)}")
    console.print(
        _("a failure of the {step} step, as `llamadoctor explain` finds it in a log").format(
            step=_(STEP_NAMES[failure.step])
        )
        + "\n"
    )
    _paragraph(console, _("Cause: "), failure.fill(shown(failure.cause), {}))
    _paragraph(console, _("Fix: "), failure.fill(shown(failure.fix), {}))
    for command in failure.commands:
        console.print(Text("    " + failure.fill(command, {})), soft_wrap=True)
    if failure.windows_commands:
        console.print(_("In PowerShell:"))
        for command in failure.windows_commands:
            console.print(Text("    " + failure.fill(command, {})), soft_wrap=True)
    console.print(Text.assemble((_("Seen in logs as:"), "bold")))
    for line in dict.fromkeys(hit.line.strip() for example in failure.matches for hit in search([failure], example)):
        console.print(Text("    " + line), soft_wrap=True)
    if failure.checks:
        console.print(_("checks: {ids}").format(ids=", ".join(failure.checks)))
    if failure.fixes:
        console.print(_("fixes: {ids}").format(ids=", ".join(failure.fixes)))
    if failure.log_only and not failure.checks:
        why = _("no check can see it in advance: {why}").format(why=shown(failure.log_only))
        _paragraph(console, "", why)
    if failure.runner:
        _paragraph(console, "", _("llamadoctor run: {does}").format(does=shown(failure.runner.does)))


_APPLIED = {
    Applicability.SAFE: N_("applied by `llamadoctor fix` when you agree, or with --yes"),
    Applicability.UNSAFE: N_("edits your code: applied only with `llamadoctor fix --unsafe`, its diff shown first"),
    Applicability.MANUAL: N_("steps for you to take: `llamadoctor fix` prints them for your shell"),
}


def explain_fix(fix: Fix, console: Console) -> None:
    console.print(Text.assemble((fix.id, "bold"), ": ", _(fix.summary)))
    applicability = _(_APPLICABILITY[fix.applicability])
    console.print(
        Text(
            _("fix, {applicability}: {how}").format(applicability=applicability, how=_(_APPLIED[fix.applicability]))
            + "\n"
        )
    )
    doc = "\n\n".join(_(paragraph) for paragraph in doc_paragraphs(fix_doc(fix)))
    if doc:
        console.print(Text(doc))
    repairs = _repairs(fix.id)
    if repairs:
        console.print(Text("\n" + _("repairs what these checks find: {checks}").format(checks=", ".join(repairs))))
    failures = [f.id for f in FAILURES if fix.id in f.fixes]
    if failures:
        console.print(Text(_("known failures it deals with: {failures}").format(failures=", ".join(failures))))
    dry_run = _("`llamadoctor fix {id} --dry-run` shows what it would change on this machine.").format(id=fix.id)
    console.print(Text("\n" + dry_run))


def _check_page_markdown(spec: Check) -> str:
    """A check's documentation, translated paragraph by paragraph, with each section's label in bold."""
    shown = []
    for paragraph in doc_paragraphs(spec.doc):
        text = _(paragraph)
        label = next((_(s) for s in SECTIONS if paragraph.startswith(s)), "")
        if label and text.startswith(label):
            # Markdown ends bold before a letter only after a letter: a full-width colon stays outside it.
            word = label.rstrip("：")
            text = f"**{word}**{text[len(word) :]}"
        shown.append(text)
    return "\n\n".join(shown)


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
            _("unknown check, fix or failure id {id}{suggestion}").format(
                id=repr(check_id), suggestion=did_you_mean(check_id, known)
            ),
            _("`llamadoctor list` and `llamadoctor list --failures` show them all"),
        )
    console.print(Text.assemble((spec.id, "bold"), ": ", _(spec.summary)))
    about = _("severity {severity}; group {group}; platforms {platforms}").format(
        severity=_(_SEVERITY[spec.severity]), group=_(spec.group.value), platforms=_platforms(spec.platforms)
    )
    console.print(Text(about + "\n"))
    console.print(Markdown(_check_page_markdown(spec)))
    for fix_id in spec.fixes:
        fix = FIXES[fix_id]
        line = _("fix [bold]{id}[/bold] ({applicability}): {summary}").format(
            id=fix.id, applicability=_(_APPLICABILITY[fix.applicability]), summary=escape(_(fix.summary))
        )
        console.print("\n" + line)
