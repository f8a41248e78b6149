"""Commands written for the user's shell: bash, zsh, PowerShell or cmd.

Manual fixes and remedies print commands the user pastes. Each shell quotes, sets variables and continues
lines differently, so every command a finding shows goes through these few functions:

    quote("C:\\Program Files\\x", "cmd")          -> "C:\\Program Files\\x"   (double quotes)
    render_argv(["python", "-m", "pip"], "powershell")
    set_env("USE_LIBUV", "0", "powershell")       -> $env:USE_LIBUV = "0"
    unset_env("RANK", "cmd")                      -> set RANK=
    join_lines(["torchrun --nproc_per_node 1", "example.py"], "cmd")   -> "...^\\n    example.py"

A shell name that is none of the four (sh, fish, an empty string) is treated as a POSIX shell.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence

SHELLS = ("bash", "zsh", "powershell", "cmd")

# Arguments that need no quoting: PowerShell and cmd give no special meaning to these characters.
_PLAIN_WINDOWS = re.compile(r"^[A-Za-z0-9_\-+=.:/\\]+$")
_CONTINUATION = {"posix": " \\", "powershell": " `", "cmd": " ^"}


def flavour(shell: str) -> str:
    """'posix', 'powershell' or 'cmd': the three syntaxes the four shells fall into."""
    name = shell.lower()
    if name in ("powershell", "pwsh"):
        return "powershell"
    return "cmd" if name == "cmd" else "posix"


def quote(arg: str, shell: str) -> str:
    """One argument, quoted only when it needs to be."""
    kind = flavour(shell)
    if kind == "posix":
        return shlex.quote(arg)
    if _PLAIN_WINDOWS.match(arg):
        return arg
    if kind == "powershell":
        return "'" + arg.replace("'", "''") + "'"
    return '"' + arg.replace('"', '""') + '"'


def render_argv(argv: Sequence[str], shell: str) -> str:
    """A command line; PowerShell runs a quoted program with the call operator: `& 'C:\\a b\\py.exe'`."""
    if not argv:
        return ""
    words = [quote(a, shell) for a in argv]
    if flavour(shell) == "powershell" and words[0] != argv[0]:
        words.insert(0, "&")
    return " ".join(words)


def set_env(name: str, value: str, shell: str) -> str:
    """Set a variable for this shell session (and the programs it starts)."""
    kind = flavour(shell)
    if kind == "posix":
        return f"export {name}={shlex.quote(value)}"
    if kind == "powershell":
        if re.search(r"[\"`$]", value):
            return f"$env:{name} = '" + value.replace("'", "''") + "'"
        return f'$env:{name} = "{value}"'
    # cmd keeps everything after '=' literally, quotes included; `set "N=V"` protects & | < > ^.
    return f"set {name}={value}" if _PLAIN_WINDOWS.match(value or "x") else f'set "{name}={value}"'


def unset_env(name: str, shell: str) -> str:
    """Remove a variable from this shell session."""
    kind = flavour(shell)
    if kind == "posix":
        return f"unset {name}"
    if kind == "powershell":
        return f"Remove-Item Env:{name}"
    return f"set {name}="


def env_commands(shell: str, *, unset: Iterable[str] = (), assign: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Unset then set variables, one command per line, in the order given."""
    lines = [unset_env(name, shell) for name in unset]
    lines += [set_env(name, value, shell) for name, value in (assign or {}).items()]
    return tuple(lines)


def continuation(shell: str) -> str:
    """What ends a line that the next line continues: ` \\`, ` ^` or a backtick."""
    return _CONTINUATION[flavour(shell)]


def join_lines(parts: Sequence[str], shell: str, indent: str = "    ") -> str:
    """One command written over several lines, each already rendered for `shell`."""
    return (continuation(shell) + "\n" + indent).join(parts)


def comment(text: str, shell: str) -> str:
    """A comment line: `# text`, or `REM text` for cmd."""
    return ("REM " if flavour(shell) == "cmd" else "# ") + text
