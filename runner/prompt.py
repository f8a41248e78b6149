"""Reading the user's turns in `run chat -i`.

In a terminal prompt_toolkit edits the line (arrows, Home/End, Ctrl-R search) and keeps a bounded history in the
state folder; Ctrl-C clears a half-typed line and ends the chat at an empty one. Piped, lines come from `input()`
so scripts and tests drive the chat with plain text. Either way a message spans several lines when a line ends
with a backslash, or between two lines of triple quotes.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Callable, Protocol

from llamadoctor.i18n import N_, _

PROMPT, MORE = N_("User: "), "....: "  # the same width in a terminal, in English and in Chinese
CONTINUE, BLOCK = "\\", '"""'
HISTORY_NAME = "chat_history.jsonl"
HISTORY_LIMIT = 1000  # entries kept; the file is trimmed to them when a chat starts


class Lines(Protocol):
    def read(self, prompt: str) -> str | None:
        """The next line, None at the end of input; raises KeyboardInterrupt on Ctrl-C."""
        ...


def is_utf8(text: str) -> bool:
    """False for text holding undecodable bytes (as surrogates): no tokenizer can encode it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class PlainLines:
    """`input()` lines: pipes, files, and terminals without prompt_toolkit."""

    def __init__(self, complain: Callable[[str], None]) -> None:
        self.complain = complain
        # Undecodable bytes become surrogates the check below catches, instead of an error that drops the buffer.
        with contextlib.suppress(AttributeError, ValueError, OSError):
            sys.stdin.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]

    def read(self, prompt: str) -> str | None:
        while sys.stdin is not None:
            try:
                line = input(prompt)
            except EOFError:
                return None
            except UnicodeDecodeError:
                line = "\udcff"
            if is_utf8(line):
                return line
            self.complain(_("(that line is not valid UTF-8 text: type it again)"))
        return None


def _history_class() -> Any:
    from prompt_toolkit.history import History

    class BoundedHistory(History):
        """One JSON string per line, newest last, at most `limit` kept: prompt_toolkit's own FileHistory grows
        forever. A history that cannot be read or written is skipped: it is a convenience, never a reason to stop."""

        def __init__(self, path: Path, limit: int = HISTORY_LIMIT) -> None:
            super().__init__()
            self.path, self.limit = path, limit

        def load_history_strings(self) -> Iterable[str]:
            entries = read_history(self.path)
            if len(entries) > self.limit:
                entries = entries[-self.limit :]
                with contextlib.suppress(OSError):
                    _rewrite(self.path, entries)
            return list(reversed(entries))  # prompt_toolkit wants the newest first

        def store_string(self, string: str) -> None:
            with contextlib.suppress(OSError):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                with os.fdopen(fd, "a", encoding="utf-8") as f:
                    f.write(json.dumps(string, ensure_ascii=False) + "\n")

    return BoundedHistory


def read_history(path: Path) -> list[str]:
    """The entries of a history file, oldest first; lines that are not JSON strings are skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    entries = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            value = json.loads(line)
            if isinstance(value, str):
                entries.append(value)
    return entries


def _rewrite(path: Path, entries: list[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
    os.replace(tmp, path)


class TerminalLines:
    """prompt_toolkit's line editor; Alt-Enter (or Esc then Enter) puts a newline in the message."""

    def __init__(self, history: Path) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.key_binding import KeyBindings

        keys = KeyBindings()

        @keys.add("c-c")
        def _interrupt(event: Any) -> None:
            if event.current_buffer.text:
                event.current_buffer.reset()  # a half-typed line is dropped, the chat goes on
            else:
                event.app.exit(exception=KeyboardInterrupt, style="class:aborting")

        @keys.add("escape", "enter")
        def _newline(event: Any) -> None:
            event.current_buffer.insert_text("\n")

        self.session: Any = PromptSession(history=_history_class()(history), key_bindings=keys)

    def read(self, prompt: str) -> str | None:
        try:
            return str(self.session.prompt(prompt))
        except EOFError:
            return None


def open_lines(state: Path, complain: Callable[[str], None]) -> Lines:
    """The terminal editor when stdin and stdout are a terminal and prompt_toolkit is installed, else plain lines."""
    interactive = sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:
        try:
            return TerminalLines(state / HISTORY_NAME)
        except ImportError:
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401  (input() edits lines once it is loaded)
    return PlainLines(complain)


class Cancelled(Exception):
    """Ctrl-C inside a multi-line message: the message is dropped, the chat goes on."""


def read_message(lines: Lines) -> str | None:
    """The user's next message, joined from its lines; None at the end of input. Ctrl-C on its first line
    raises KeyboardInterrupt, on a later one Cancelled."""
    first = lines.read(_(PROMPT))
    if first is None:
        return None
    if first.lstrip().startswith(BLOCK):
        return _block(lines, first.lstrip()[len(BLOCK) :])
    parts = [first]
    while parts[-1].endswith(CONTINUE):
        parts[-1] = parts[-1][: -len(CONTINUE)]
        more = _more(lines)
        if more is None:
            break
        parts.append(more)
    return "\n".join(parts)


def _more(lines: Lines) -> str | None:
    try:
        return lines.read(MORE)
    except KeyboardInterrupt:
        raise Cancelled from None


def _block(lines: Lines, rest: str) -> str:
    """Lines up to the one ending in triple quotes; the end of input closes the block too."""
    parts: list[str] = []
    line: str | None = rest
    while line is not None:
        if line.rstrip().endswith(BLOCK):
            parts.append(line.rstrip()[: -len(BLOCK)])
            break
        parts.append(line)
        line = _more(lines)
    if parts and not parts[0].strip():
        parts = parts[1:]  # the opening quotes on a line of their own
    return "\n".join(parts)
