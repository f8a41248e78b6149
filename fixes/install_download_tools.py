"""Install what Meta's download.sh runs (bash, wget, md5sum), the way this platform installs things."""

from __future__ import annotations

from llamadoctor.advice import LINUX_MANAGERS, install_commands, missing
from llamadoctor.facts import Facts
from llamadoctor.i18n import _
from llamadoctor.model import Action, Applicability, Finding, Manual
from llamadoctor.registry import fix


def _text(facts: Facts, names: tuple[str, ...]) -> str:
    wanted = ", ".join(names)
    if facts.os == "darwin":
        return _("Install {tools} with Homebrew (https://brew.sh); md5sum comes with coreutils:").format(tools=wanted)
    if facts.os == "windows":
        if "bash" in names:
            return _(
                "download.sh needs a Linux shell: install WSL, restart, then run download.sh inside it (its Ubuntu "
                "needs wget and coreutils):"
            )
        return _("Git Bash lacks {tools}: install it with winget (then reopen Git Bash), or use WSL:").format(
            tools=wanted
        )
    if sum(facts.tools.has(tool) for tool, _command in LINUX_MANAGERS) == 1:
        return _("Install {tools}:").format(tools=wanted)
    return _("Install {tools} with your distribution's package manager (one of):").format(tools=wanted)


@fix(
    id="install-download-tools",
    summary="Install bash, wget and md5sum for Meta's download.sh",
    applicability=Applicability.MANUAL,
)
def install_download_tools(finding: Finding, facts: Facts) -> tuple[Action, ...]:
    """Printed, never run: it needs sudo, Homebrew or a Windows feature install."""
    names = missing(facts)
    if not names:
        return ()
    return (Manual(_text(facts, names), install_commands(facts, names)),)
