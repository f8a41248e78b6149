"""Reading a launcher's #! line as the Windows launchers do, for the check that judges it and the fix that
rewrites it."""

from __future__ import annotations

from llamadoctor.facts import Launcher

WINDOWS_KINDS = ("conda-script", "exe")


def splits_at_space(launcher: Launcher) -> str | None:
    """What a Windows launcher would start when its #! line names a path with spaces without quotes: it reads
    the program only up to the first space. None when the line is quoted, has no space, or is not Windows'."""
    if launcher.kind not in WINDOWS_KINDS or not launcher.line.startswith("#!"):
        return None
    named = launcher.line[2:].strip()
    if named.startswith('"') or " " not in named:
        return None
    return named.split(" ", 1)[0]
