"""The one owner of errors and exit codes, for every command.

0 done; 1 a refusal or failure the user can act on (the runner's RunError); 2 bad input (ours, or click's
parse errors); 3 an internal bug, with a crash log; 130 Ctrl-C; a closed pipe ends quietly with the status a
shell gives a process killed by SIGPIPE. Each message is one line, `llamadoctor: error: ...`, worded alike in
every command. `HandledGroup` runs every command inside `handle_errors` and every byte of output through
`SafeStream` (redaction, escaped control characters), so no command can leave by another door.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import sys
import traceback
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import typer
from typer.core import TyperGroup

from llamadoctor import __version__, i18n
from llamadoctor.i18n import N_, _
from llamadoctor.redact import SafeStream, redact, safe_text

PREFIX = "llamadoctor: error: "
BAD_INPUT, FAILED, INTERNAL, INTERRUPTED = 2, 1, 3, 130
PIPE_CLOSED = 128 + 13  # what a shell reports for a process killed by SIGPIPE (`yes | head -1`)
CRASH_LOGS_KEPT = 20


def _click_class(name: str) -> type[Exception]:
    """Click's exception class of that name, from the click typer uses (its own copy in newer typers)."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)


ClickException = _click_class("ClickException")
ClickUsageError = _click_class("UsageError")
# Errors of the operating system about a path the user gave: bad input, not a bug of ours. {path} is the path,
# or the option and the path (`--repo /x`).
_PATH_ERRNOS = {
    errno.ENAMETOOLONG: N_("{path} is too long for this system"),
    errno.ELOOP: N_("{path} is a symbolic link loop"),
}
_UNREADABLE = N_("{path} cannot be read (permission denied)")


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit 2."""

    def __init__(self, message: str, fix: str = "") -> None:
        self.message, self.fix = message, fix
        super().__init__(message)


def path_option(*names: str, help: str, default: Any = ...) -> Any:
    """A typer option for a path that our own code validates, so a bad one is one line and exit 2.

    Click would check readability itself and print its usage box instead. `default` is for options declared
    without Annotated (`...`: required, or none given).
    """
    return typer.Option(default, *names, help=help, readable=False)


def readable_dir(path: Path, what: str, fix: str = "") -> Path:
    """`path` if it is a folder we can read; otherwise a UsageError naming the option `what`."""
    given = f"{what} {path}"
    try:
        os.stat(path)
    except OSError as exc:
        reason = _PATH_ERRNOS.get(exc.errno or 0) or (
            _UNREADABLE if exc.errno == errno.EACCES else N_("{path} does not exist")
        )
        raise UsageError(_(reason).format(path=given), fix) from None
    if not path.is_dir():
        raise UsageError(_("{path} is not a folder").format(path=given), fix)
    if not os.access(path, os.R_OK | os.X_OK):
        raise UsageError(_(_UNREADABLE).format(path=given), fix)
    return path


def say(message: str, fix: str = "") -> None:
    """One line on stderr, redacted and with control characters escaped whatever stream stderr is now."""
    # TRANSLATORS: an error message, then how to put it right.
    line = safe_text(_("{message}  fix: {fix}").format(message=message, fix=fix) if fix else message)
    line = line.replace("\n", " ")
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def handle_errors() -> Iterator[None]:
    """Turn what a command body raises into its one line and exit code (as typer.Exit)."""
    try:
        yield
    except SystemExit as exc:
        if _is_closed_pipe(exc.__context__):  # rich ends with SystemExit(1) when the reader went away
            raise typer.Exit(_report(exc.__context__)) from None  # type: ignore[arg-type]
        raise
    except (typer.Exit, typer.Abort, ClickException):
        raise
    except KeyboardInterrupt:
        say(_("interrupted"))
        raise typer.Exit(INTERRUPTED) from None
    except BaseException as exc:
        raise typer.Exit(_report(exc)) from None


def _report(exc: BaseException) -> int:
    from llamadoctor.runner.errors import RunError

    if _is_closed_pipe(exc):
        _silence_stdout()
        return PIPE_CLOSED
    if isinstance(exc, UsageError):
        say(PREFIX + exc.message, exc.fix)
        return BAD_INPUT
    if isinstance(exc, RunError):  # a subclass for bad input says so with `exit_code = 2`
        say(PREFIX + exc.message, exc.fix)
        return int(getattr(exc, "exit_code", FAILED))
    if isinstance(exc, OSError) and exc.errno in _PATH_ERRNOS:
        reason = _(_PATH_ERRNOS[exc.errno or 0]).format(path=exc.filename or _("a path"))
        say(PREFIX + reason, _("give a shorter, real path"))
        return BAD_INPUT
    if not isinstance(exc, Exception):
        raise exc
    log = write_crash_log(exc)
    error = f"{type(exc).__name__}: {exc}"
    if log:
        say(
            _("llamadoctor: internal error: {error} (details in {log}; please attach it to a bug report)").format(
                error=error, log=log
            )
        )
    else:
        say(_("llamadoctor: internal error: {error}").format(error=error))
    return INTERNAL


def _is_closed_pipe(exc: BaseException | None) -> bool:
    return isinstance(exc, BrokenPipeError) or (isinstance(exc, OSError) and exc.errno == errno.EPIPE)


def _silence_stdout() -> None:
    """The reader went away: nothing more can be said, and Python's own flush at exit must not complain."""
    stream = sys.stdout
    if isinstance(stream, SafeStream):
        stream._held.clear()
        stream = stream.raw
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file behind it (a test's buffer)
        pass


def write_crash_log(exc: BaseException, folder: Path | None = None) -> str:
    """A new redacted file with the traceback, never overwriting one; the oldest beyond the limit go."""
    try:
        if folder is None:
            from llamadoctor.paths import state_dir

            folder = state_dir() / "crashes"
        folder.mkdir(parents=True, exist_ok=True)
        text = f"llamadoctor {__version__} on {sys.platform}, Python {sys.version.split()[0]}\n"
        text += "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        path = _new_crash_file(folder, redact(text))
        _prune_crash_logs(folder)
        return str(path)
    except OSError:
        return ""


def _new_crash_file(folder: Path, text: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")  # names sort by time
    for n in range(1000):
        path = folder / f"crash-{stamp}-{os.getpid()}{f'-{n}' if n else ''}.log"
        try:
            with open(path, "x", encoding="utf-8") as file:
                file.write(text)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(folder)


def _prune_crash_logs(folder: Path) -> None:
    logs = sorted(folder.glob("crash-*.log"))  # the names sort by time
    for old in logs[:-CRASH_LOGS_KEPT]:
        with contextlib.suppress(OSError):
            old.unlink()


def _usage_line(exc: Any) -> int:
    if type(exc).__name__ == "NoArgsIsHelpError":  # `llamadoctor` alone: the help, as before
        exc.show()
        return 0
    command = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "llamadoctor"
    say(PREFIX + exc.format_message().replace("\n", " "), _("see `{command} --help`").format(command=command))
    return BAD_INPUT


def _run_parsed(call: Callable[[], Any]) -> int:
    """Run click in non-standalone mode and turn what it raises into an exit code."""
    try:
        code = call()
        sys.stdout.flush()
        return code if isinstance(code, int) else 0
    except ClickUsageError as exc:
        return _usage_line(exc)
    except ClickException as exc:
        say(PREFIX + exc.format_message())  # type: ignore[attr-defined]
        return int(exc.exit_code)  # type: ignore[attr-defined]
    except typer.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt) or isinstance(exc.__cause__, KeyboardInterrupt):
            say(_("interrupted"))
            return INTERRUPTED
        say(PREFIX + _("no answer (input closed)"), _("run it with --yes, or answer the question"))
        return FAILED
    except KeyboardInterrupt:
        say(_("interrupted"))
        return INTERRUPTED
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            raise
        return _report(exc)


def run_guarded(call: Callable[[], Any]) -> int:
    """Run a whole command line with stdout and stderr behind SafeStream; the exit code it ends with."""
    saved = sys.stdout, sys.stderr
    # A closed stdout or stderr (`>&-`) is None in Python: what would go there goes nowhere, like a closed pipe.
    devnull = open(os.devnull, "w", encoding="utf-8") if None in saved else None  # noqa: SIM115
    sys.stdout = SafeStream(saved[0] or devnull)  # type: ignore[arg-type]
    sys.stderr = SafeStream(saved[1] or devnull, live=True)  # type: ignore[arg-type]
    try:
        code = _run_parsed(call)
        try:
            sys.stdout.flush()
        except OSError as exc:
            code = _report(exc)
        return code
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        sys.stdout, sys.stderr = saved
        if devnull is not None:
            devnull.close()


class HandledGroup(TyperGroup):
    """The click group of every llamadoctor command line: one error handler and one output filter for all."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        standalone = kwargs.pop("standalone_mode", True)
        kwargs["standalone_mode"] = False
        given = kwargs.pop("args") if "args" in kwargs else (args[0] if args else None)
        args = args[1:]
        argv = list(sys.argv[1:] if given is None else given)
        try:
            i18n.choose(argv)
        except ValueError as exc:
            say(PREFIX + str(exc), f"see `{self.name or 'llamadoctor'} --help`")
            if standalone:
                sys.exit(BAD_INPUT)
            return BAD_INPUT
        i18n.translate_commands(self)
        kwargs["args"] = i18n.strip_lang(argv)
        if not standalone:
            return super().main(*args, **kwargs)
        sys.exit(run_guarded(lambda: super(HandledGroup, self).main(*args, **kwargs)))

    def invoke(self, ctx: Any) -> Any:
        with handle_errors():
            return super().invoke(ctx)


def float_in(low: float, high: float, *, low_open: bool = False) -> Callable[[Any], Any]:
    """A typer callback that accepts a finite float in [low, high] (or (low, high]); click's FloatRange lets
    nan and infinity through."""
    shown = f"{'(' if low_open else '['}{low}, {high}]"

    def check(value: Any) -> Any:
        if value is None:
            return value
        below = value <= low if low_open else value < low
        if not math.isfinite(value) or below or value > high:
            raise typer.BadParameter(_("{value} is not in the range {range}").format(value=value, range=shown))
        return value

    return check


# The ranges every command accepts, so a value no run could use is one line and exit 2, not a hang or a crash.
LIMIT = 2**20
SEQ_LEN: dict[str, Any] = {"min": 1, "max": LIMIT}
BATCH_SIZE: dict[str, Any] = {"min": 1, "max": LIMIT}
GEN_LEN: dict[str, Any] = {"min": 1, "max": LIMIT}
NPROC: dict[str, Any] = {"min": 1, "max": 4096}
SEED: dict[str, Any] = {"min": 0, "max": 2**64 - 1}  # what torch.manual_seed accepts
TOP_P: dict[str, Any] = {"callback": float_in(0, 1, low_open=True)}
TEMPERATURE: dict[str, Any] = {"callback": float_in(0, 100)}
