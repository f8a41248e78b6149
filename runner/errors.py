"""The one error type the runner raises for a problem the user can fix.

The CLI prints it as one line (`error: <message>  fix: <fix>`) and exits non-zero, never a traceback.
"""

from __future__ import annotations

from llamadoctor.i18n import _


class RunError(Exception):
    """A problem found before or while running, with the action that fixes it."""

    def __init__(self, message: str, fix: str = "") -> None:
        self.message = message
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        if self.fix:
            return _("error: {message}  fix: {fix}").format(message=self.message, fix=self.fix)
        return _("error: {message}").format(message=self.message)
