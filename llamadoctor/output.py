"""How every command dresses its output: colour, quiet mode, status lines while it works, "did you mean".

Colour: `--no-color` wins, then NO_COLOR, then FORCE_COLOR, then whether the stream is a terminal (rich reads
the two variables itself; the flag is ours). Quiet: only errors and the verdict. A status line appears only on
a terminal, never in quiet or JSON output, and is gone when the work is done.
"""

from __future__ import annotations

import contextlib
import difflib
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import typer

from llamadoctor.i18n import _


@dataclass
class _Settings:
    quiet: bool = False
    no_color: bool = False


SETTINGS = _Settings()

QUIET_HELP = "Print only errors and the verdict."
NO_COLOR_HELP = "No colours (NO_COLOR=1 does the same; FORCE_COLOR=1 keeps them when piped)."


def quiet_option() -> Any:
    return typer.Option("--quiet", "-q", help=QUIET_HELP)


def no_color_option() -> Any:
    return typer.Option("--no-color", help=NO_COLOR_HELP)


def configure(*, quiet: bool = False, no_color: bool = False, reset: bool = False) -> None:
    """Turn quiet mode or colourless output on: given before the command (`reset`, once per command line) or
    after it, either place counts."""
    if reset:
        SETTINGS.quiet, SETTINGS.no_color = False, False
    SETTINGS.quiet = SETTINGS.quiet or quiet
    SETTINGS.no_color = SETTINGS.no_color or no_color


def console_options() -> dict[str, Any]:
    """Options for every rich Console a command makes: `--no-color` over FORCE_COLOR and the terminal."""
    return {"no_color": True, "color_system": None} if SETTINGS.no_color else {}


def stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, **console_options())


def watching() -> bool:
    """Whether a person is watching stderr who wants to hear about slow work."""
    try:
        return not SETTINGS.quiet and sys.stderr.isatty()
    except (ValueError, OSError):
        return False


@contextlib.contextmanager
def status(message: str, *, enabled: bool = True) -> Iterator[Any]:
    """A spinner and `message` on stderr while the block runs, when a person is watching; it yields an object
    whose `update(message)` changes the words (a no-op one otherwise)."""
    if not enabled or not watching():
        yield _Silent()
        return
    with stderr_console().status(message) as shown:
        yield _Shown(shown)


class _Silent:
    def update(self, message: str) -> None:
        pass


class _Shown:
    def __init__(self, shown: Any) -> None:
        self._shown = shown

    def update(self, message: str) -> None:
        self._shown.update(message)


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest known id, or ""."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    # TRANSLATORS: added right after an unknown id in an error message; {id} is the closest known one.
    return _(" (did you mean {id}?)").format(id=repr(close[0])) if close else ""
