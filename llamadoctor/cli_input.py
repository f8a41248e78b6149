"""What the command line takes in besides its options' own types: options that cannot go together, a signed URL
kept out of shell history, and the ids shell completion offers."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Optional

from llamadoctor.errors import UsageError
from llamadoctor.i18n import _

URL_VARIABLE = "LLAMA_DOWNLOAD_URL"
URL_LIMIT = 64 * 1024  # a signed URL is a few hundred bytes; more than this on stdin is not one


def check_options(*, json_out: bool, markdown: bool, only: Sequence[str], skip: Sequence[str]) -> None:
    """Refuse option pairs that contradict each other instead of silently picking one."""
    if json_out and markdown:
        raise UsageError(_("--json and --markdown cannot go together"), _("choose one output format"))
    both = [name for name in dict.fromkeys(only) if name in skip]
    if both:
        twice = _("{ids} is given to both --only and --skip").format(ids=", ".join(both))
        raise UsageError(twice, _("keep it in one of them"))


def signed_url(given: Optional[str]) -> Optional[str]:
    """The signed URL to diagnose: `--url URL`, `--url -` (read from standard input, so it stays out of shell
    history), or the LLAMA_DOWNLOAD_URL environment variable when --url is not given."""
    if given is None:
        return os.environ.get(URL_VARIABLE, "").strip() or None
    if given != "-":
        return given
    if sys.stdin is None:
        raise UsageError(_("--url - reads the URL from standard input, which is closed"))
    if sys.stdin.isatty():
        import getpass

        text = getpass.getpass(_("Paste the download URL from Meta's email (it is not shown), then Enter: "))
    else:
        text = sys.stdin.read(URL_LIMIT + 1)
        if len(text) > URL_LIMIT:
            raise UsageError(
                _("--url -: standard input holds more than a URL"), _("pipe in just the URL from the email")
            )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        if lines:
            held = _("--url -: standard input held {count} lines, not one URL").format(count=len(lines))
        else:
            held = _("--url -: standard input held nothing, not one URL")
        raise UsageError(held, _("or set {variable}").format(variable=URL_VARIABLE))
    return lines[0]


def complete_ids(incomplete: str) -> list[str]:
    """Check and fix ids starting with what was typed, for shell completion."""
    from llamadoctor.registry import CHECKS, FIXES, all_checks

    all_checks()  # fills the registry
    return sorted(i for i in {*CHECKS, *FIXES} if i.startswith(incomplete))


def complete_check_ids(incomplete: str) -> list[str]:
    from llamadoctor.registry import all_checks

    return sorted(c.id for c in all_checks() if c.id.startswith(incomplete))
