"""An explanation as a person reads it (rich, fixed-width, commands never folded) and as tools read it (JSON).

Every text taken from the log is untrusted: secrets are redacted and control characters escaped before it is
laid out, and commands are printed for the user's shell."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from typing import Any, Optional

from rich.console import Console
from rich.text import Text

from llamadoctor.explaining import Explanation, Match
from llamadoctor.explaining.confirm import Confirmation
from llamadoctor.explaining.ranking import HIGH, LOW, MEDIUM
from llamadoctor.failures.model import shown
from llamadoctor.folding import fold, fold_text, is_wide
from llamadoctor.i18n import N_, _, ngettext
from llamadoctor.jsonable import document
from llamadoctor.redact import safe_text
from llamadoctor.shell import flavour

SHOWN_LINES = 5  # log lines a person sees per match; JSON keeps up to JSON_LINES
JSON_LINES = 50
BUG_REPORT = "llamadoctor check --markdown"
INDENT = 3
Here = Optional[Mapping[str, Confirmation]]


def commands_for(match: Match, shell: str) -> list[str]:
    """The fix's commands in the user's shell: the PowerShell form on Windows shells where there is one."""
    failure = match.failure
    windows = flavour(shell) != "posix" and bool(failure.windows_commands)
    return [match.text(c) for c in (failure.windows_commands if windows else failure.commands)]


_CONFIDENCE = {
    HIGH: N_("(high confidence)"),
    MEDIUM: N_("(medium confidence)"),
    LOW: N_("(low confidence)"),
}


def render_human(
    explanation: Explanation, console: Console, *, shell: str, here: Here, source: str, ran_here: bool = False
) -> None:
    """`ran_here`: the log is the output of a command run on this machine, not one pasted from anywhere."""
    matches = explanation.matches
    lines = ngettext("{count} line", "{count} lines", explanation.line_count).format(count=explanation.line_count)
    if not matches:
        _render_unknown(explanation, console, source, lines)
        return
    if len(matches) == 1:
        title = _("{count} known failure in {source} ({lines})")
    else:
        title = _("{count} known failures in {source} ({lines}), the one that stopped the run first")
    title = title.format(count=len(matches), source=source, lines=lines)
    _print_folded(console, Text(safe_text(title), style="bold"))
    for number, match in enumerate(matches, 1):
        console.print()
        _render_match(number, match, console, shell, here.get(match.failure.id) if here is not None else None)
    if here is not None and not ran_here:
        console.print()
        notice = _("A log may come from another machine: 'this machine' speaks for this one.")
        console.print(Text(notice, style="dim"))


def _render_match(number: int, match: Match, console: Console, shell: str, here: Optional[Confirmation]) -> None:
    failure = match.failure
    head = Text(f"{number}. ", style="bold")
    head.append(failure.id, style="bold cyan")
    head.append(safe_text(f": {shown(failure.title)}"), style="bold")
    head.append("  " + _(_CONFIDENCE[match.confidence]), style="dim")
    _print_folded(console, head)
    _prose(console, _("cause: "), match.text(shown(failure.cause)))
    _prose(console, _("fix: "), match.text(shown(failure.fix)))
    for command in commands_for(match, shell):
        console.print(Text(" " * 2 * INDENT + safe_text(command), style="green"), soft_wrap=True)
    for numbers, text in _distinct(match.lines)[:SHOWN_LINES]:
        if len(numbers) == 1:
            where = _("line {number}: {text}").format(number=numbers[0], text=text.strip())
        else:
            where = _("lines {numbers}: {text}").format(numbers=_numbers(numbers), text=text.strip())
        console.print(Text(safe_text(" " * INDENT + where), style="dim"), soft_wrap=True)
    if len(_distinct(match.lines)) > SHOWN_LINES:
        seen = ngettext("... seen on {count} line in all", "... seen on {count} lines in all", len(match.lines))
        console.print(Text(" " * INDENT + seen.format(count=len(match.lines)), style="dim"))
    if here is not None:
        verdict = _(here.verdict)
        about = _("{verdict} ({why})").format(verdict=verdict, why=here.why) if here.why else verdict
        _prose(console, _("this machine: "), about)


def _print_folded(console: Console, text: Text) -> None:
    """A heading, folded between Chinese characters where it has them (rich folds only at spaces)."""
    console.print(fold_text(text, console.width - 1) if is_wide(text.plain) else text)


def _distinct(lines: tuple[tuple[int, str], ...]) -> list[tuple[list[int], str]]:
    """The matched lines with repeats (every rank prints the same error) shown once, with all their numbers."""
    seen: dict[str, list[int]] = {}
    for number, text in lines:
        seen.setdefault(text.strip(), []).append(number)
    return [(numbers, text) for text, numbers in seen.items()]


def _numbers(numbers: list[int]) -> str:
    shown_numbers = ", ".join(map(str, numbers[:SHOWN_LINES]))
    if len(numbers) <= SHOWN_LINES:
        return shown_numbers
    # TRANSLATORS: line numbers of a log, then how many more lines the same text was seen on
    return _("{numbers} and {count} more").format(numbers=shown_numbers, count=len(numbers) - SHOWN_LINES)


def _prose(console: Console, label: str, text: str) -> None:
    """A labelled paragraph, folded at the console's width and indented under its label (no trailing spaces)."""
    indent = " " * INDENT
    width = max(40, console.width - 1)
    paragraph = label + safe_text(text)
    if is_wide(paragraph):
        folded = fold(paragraph, width, indent)
    else:
        folded = textwrap.fill(paragraph, width, initial_indent=indent, subsequent_indent=indent)
    body = Text(folded)
    body.stylize("bold", INDENT, INDENT + len(label.rstrip()))
    console.print(body, soft_wrap=True)


def _render_unknown(explanation: Explanation, console: Console, source: str, lines: str) -> None:
    headline = _("No known failure in {source} ({lines}).").format(source=source, lines=lines)
    _print_folded(console, Text(safe_text(headline), style="bold"))
    if explanation.last_exception is not None:
        number, text = explanation.last_exception
        console.print(_("The last error it shows, line {number}:").format(number=number))
        console.print(Text(" " * INDENT + safe_text(text), style="red"), soft_wrap=True)
    else:
        console.print(_("It shows no exception and no shell error."))
    console.print(
        _("If something failed, please open an issue with the log and the report of `{command}`.").format(
            command=BUG_REPORT
        ),
        soft_wrap=True,
        markup=False,
    )


def to_json(
    explanation: Explanation,
    *,
    shell: str,
    here: Here,
    source: str,
    command: Optional[Mapping[str, Any]] = None,
) -> str:
    data = {
        "source": source,
        "command": dict(command) if command is not None else None,
        "lines_read": explanation.line_count,
        "matches": [
            _match_data(m, shell, here.get(m.failure.id) if here is not None else None) for m in explanation.matches
        ],
        "last_exception": _last(explanation),
        "bug_report": None if explanation.matches else BUG_REPORT,
    }
    return json.dumps(document("explain", data), indent=2, ensure_ascii=False)


def _match_data(match: Match, shell: str, here: Optional[Confirmation]) -> dict[str, Any]:
    failure = match.failure
    checks: list[dict[str, Optional[str]]]
    if here is not None:
        checks = [{"id": r.check.id, "status": r.status.value} for r in here.results]
    else:  # not run (--no-checks)
        checks = [{"id": check_id, "status": None} for check_id in failure.checks]
    return {
        "id": failure.id,
        "title": failure.title,
        "step": failure.step.value,
        "confidence": match.confidence,
        "cause": match.text(failure.cause),
        "fix": match.text(failure.fix),
        "commands": commands_for(match, shell),
        "fixes": list(failure.fixes),
        "here": here.verdict if here is not None else None,
        "checks": checks,
        "lines": [{"number": n, "text": t} for n, t in match.lines[:JSON_LINES]],
        "seen_on_lines": len(match.lines),
    }


def _last(explanation: Explanation) -> Optional[dict[str, Any]]:
    if explanation.last_exception is None:
        return None
    number, text = explanation.last_exception
    return {"number": number, "text": text}
