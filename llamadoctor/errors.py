"""One place that turns failures into exit codes: 2 for bad input, 3 for our own bugs, 130 for Ctrl-C."""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator
from typing import Any

import typer

from llamadoctor import __version__
from llamadoctor.redact import redact


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit 2."""


def path_option(*names: str, help: str, default: Any = ...) -> Any:
    """A typer option for a path that our own code validates, so a bad one is one line and exit 2.

    Click would check readability itself and print its usage box instead. `default` is for options declared
    without Annotated (`...`: required, or none given).
    """
    return typer.Option(default, *names, help=help, readable=False)


@contextlib.contextmanager
def handle_errors() -> Iterator[None]:
    try:
        yield
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except UsageError as exc:
        print(f"llamadoctor: error: {redact(str(exc))}", file=sys.stderr)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise typer.Exit(130) from None
    except Exception as exc:
        log = _write_crash_log(exc)
        print(f"llamadoctor: internal error: {type(exc).__name__}: {redact(str(exc))}", file=sys.stderr)
        if log:
            print(f"llamadoctor: details in {log}; please attach it to a bug report", file=sys.stderr)
        raise typer.Exit(3) from None


def _write_crash_log(exc: BaseException) -> str:
    try:
        from llamadoctor.paths import state_dir

        folder = state_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "crash.log"
        text = f"llamadoctor {__version__} on {sys.platform}, Python {sys.version.split()[0]}\n"
        text += "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        path.write_text(redact(text), encoding="utf-8")
        return str(path)
    except OSError:
        return ""
