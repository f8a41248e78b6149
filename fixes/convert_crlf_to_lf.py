"""Rewrite download.sh with LF line endings, and make it executable while at it."""

from __future__ import annotations

from llamadoctor.facts import Facts
from llamadoctor.files import executable_mode
from llamadoctor.i18n import _
from llamadoctor.model import Action, Applicability, Finding, Manual, WriteFile
from llamadoctor.registry import fix


@fix(
    id="convert-crlf-to-lf",
    summary="rewrite download.sh with LF line endings",
    applicability=Applicability.SAFE,
)
def convert_crlf_to_lf(finding: Finding, facts: Facts) -> tuple[Action, ...]:
    script = facts.repo.download_script if facts.repo else None
    if script is None or not script.crlf:
        return ()
    if script.content is None:
        return (
            Manual(_("{path} is too large to rewrite safely; convert it with `dos2unix`.").format(path=script.path)),
        )
    after = script.content.replace(b"\r\n", b"\n")
    return (WriteFile(script.path, after, script.content, executable_mode(script.mode)),)
