"""`explain -q`: the diagnosis in one line, as `check -q` ends with its verdict."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from llamadoctor.explaining import Explanation
from llamadoctor.i18n import _, ngettext
from llamadoctor.redact import safe_text


def verdict_line(explanation: Explanation, source: str) -> str:
    """The known failures of a log by id, the one that stopped the run first; or that there is none."""
    ids = [match.failure.id for match in explanation.matches]
    if not ids:
        return _("No known failure in {source}.").format(source=source)
    # TRANSLATORS: {ids} is a comma-separated list of failure ids, such as `dl-crlf-script`.
    line = ngettext(
        "1 known failure in {source}: {ids}",
        "{count} known failures in {source}, the first stopped the run: {ids}",
        len(ids),
    )
    return line.format(count=len(ids), source=source, ids=_(", ").join(ids))


def render_quiet(explanation: Explanation, console: Console, *, source: str) -> None:
    style = "bold red" if explanation.matches else "bold green"
    console.print(Text(safe_text(verdict_line(explanation, source)), style=style), soft_wrap=True)
