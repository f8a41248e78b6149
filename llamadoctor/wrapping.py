"""Lay out a remedy for a terminal: its prose wraps at word boundaries under its indent, its commands never wrap.

A remedy is lines of text; a line is a command to copy (`export X=1`, `/path/python -m pip install ...`), or
prose that may end with one (`..., or add swap: sudo fallocate ...`). A command broken over two lines pastes as
two commands, so commands, and the commands quoted in prose (in backticks, or after a colon), are kept whole:
a line longer than the terminal is then left to the terminal to fold on screen.
"""

from __future__ import annotations

import re
import textwrap

# First words that start a command rather than a sentence.
_PROGRAMS = {
    "apt",
    "apt-get",
    "bash",
    "brew",
    "cd",
    "chmod",
    "conda",
    "curl",
    "dnf",
    "export",
    "git",
    "huggingface-cli",
    "llamadoctor",
    "ollama",
    "pacman",
    "pip",
    "pip3",
    "python",
    "python3",
    "set",
    "setx",
    "sudo",
    "torchrun",
    "unset",
    "wget",
    "winget",
    "wsl",
    "yum",
}
_PATH_START = re.compile(r"^(?:[/~.$#]|[A-Za-z]:\\|\\\\|\w+\()")
_POWERSHELL_VERB = re.compile(r"^[A-Z][a-z]+-[A-Z]\w+$")  # Remove-Item, Copy-Item, Get-CimInstance
_KEPT = re.compile(r"`[^`]*`")
# Glue for the spaces of a quoted command: textwrap breaks only at ASCII whitespace.
_GLUE = "\u00a0"


def is_command(line: str) -> bool:
    """Whether a remedy line is (or starts as) a command to copy."""
    words = line.split()
    if not words:
        return False
    first = words[0]
    if first in _PROGRAMS or _PATH_START.match(first) or _POWERSHELL_VERB.match(first):
        return True
    return len(words) > 1 and words[1].startswith("-")  # `tool --option`: a command line


def _glued(line: str) -> str:
    """The line with the spaces inside its commands (backticks, or all that follows `: command`) glued."""
    line = _KEPT.sub(lambda m: m.group(0).replace(" ", _GLUE), line)
    for match in re.finditer(r": ", line):
        tail = line[match.end() :]
        if is_command(tail):
            return line[: match.end()] + tail.replace(" ", _GLUE)
    return line


def remedy_lines(text: str, width: int, indent: str = "     ") -> list[tuple[str, bool]]:
    """(line with its indent, whether it is a command) for each line shown, prose wrapped to `width`."""
    shown: list[tuple[str, bool]] = []
    for line in text.splitlines():
        if not line.strip() or is_command(line) or line.startswith((" ", "\t")):
            shown.append((indent + line, True))
            continue
        pieces = textwrap.wrap(
            _glued(line),
            width=max(width - len(indent), 20),
            break_long_words=False,
            break_on_hyphens=False,
        )
        shown += [(indent + piece.replace(_GLUE, " "), False) for piece in pieces or [""]]
    return shown
