"""torchrun launchers: which interpreter their first line names, and whether it still exists.

Three shapes exist: a `#!` script (Linux/macOS bin/torchrun, also pip's `#!/bin/sh` + `'''exec'` trick for
long paths), conda's Windows `Scripts\\torchrun-script.py` run by a generic torchrun.exe, and pip's Windows
torchrun.exe, a launcher with the `#!` line and a zip appended to it.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Callable, Optional

from llamadoctor.facts import Launcher
from llamadoctor.reading import read_regular

MAX_EXE = 16 * 1024 * 1024  # a pip launcher is a ~100 KB stub with the script zipped after it
MAX_SCRIPT = 1024 * 1024  # a launcher script is a few hundred bytes
HEAD = 4096
_EXEC_TRICK = re.compile(r"""^'''exec'\s+(?:"([^"]+)"|(\S+))""")


def _interpreter_from_shebang(first: str, second: str = "") -> Optional[str]:
    line = first[2:].strip()
    if not line:
        return None
    if line.startswith('"'):
        return line[1:].split('"', 1)[0]
    if line in ("/bin/sh", "/usr/bin/env sh") and second:
        match = _EXEC_TRICK.match(second)
        if match:
            return match.group(1) or match.group(2)
    try:
        words = shlex.split(line, posix=not re.match(r"^[A-Za-z]:\\", line))
    except ValueError:
        words = line.split()
    if words and words[0].endswith("/env") and len(words) > 1:
        return words[1]  # a PATH lookup, resolved by the caller
    # A Windows path may contain spaces without quotes only if it's the whole line.
    return line if re.match(r"^[A-Za-z]:\\", line) else (words[0] if words else None)


def _shebang_from_exe(path: Path) -> Optional[str]:
    """pip/distlib Windows launchers: the script (with its #! line) is a zip appended after the stub."""
    data = read_regular(path, MAX_EXE)
    zip_at = data.rfind(b"PK\x03\x04")
    if zip_at < 0:
        return None
    bang = data.rfind(b"#!", 0, zip_at)
    if bang < 0:
        return None
    return data[bang:zip_at].decode("utf-8", "replace").strip()


def read_launcher(path: Path, kind: str, exists: Optional[Callable[[str], bool]] = None) -> Optional[Launcher]:
    """Launcher facts for one file; None if it does not exist or can't be read."""
    content = None
    try:
        if kind == "exe":
            line = _shebang_from_exe(path) or ""
            second = ""
        else:
            data = read_regular(path, MAX_SCRIPT + 1)
            content = data if len(data) <= MAX_SCRIPT else None
            lines = data[:HEAD].decode("utf-8", "replace").splitlines() or [""]
            line, second = lines[0].rstrip("\r"), (lines[1] if len(lines) > 1 else "")
    except OSError:
        return None
    if not line.startswith("#!"):
        return Launcher(str(path), kind, None, False, line[:200], content)
    interpreter = _interpreter_from_shebang(line, second)
    check = exists or _exists
    return Launcher(str(path), kind, interpreter, interpreter is not None and check(interpreter), line, content)


def _exists(interpreter: str) -> bool:
    import shutil

    if "/" in interpreter or "\\" in interpreter:
        return Path(interpreter).is_file()
    return shutil.which(interpreter) is not None


def target_launcher(scripts_dir: Path, os_name: str) -> Optional[Launcher]:
    """The torchrun that belongs to the target environment."""
    if os_name == "windows":
        for name, kind in (("torchrun-script.py", "conda-script"), ("torchrun.exe", "exe")):
            if (scripts_dir / name).is_file():
                return read_launcher(scripts_dir / name, kind)
        return None
    candidate = scripts_dir / "torchrun"
    return read_launcher(candidate, "script") if candidate.is_file() else None


def launcher_on_path(found: Optional[str], os_name: str) -> Optional[Launcher]:
    """The launcher a shell would run for `torchrun`."""
    if not found:
        return None
    path = Path(found)
    if os_name == "windows":
        script = path.with_name("torchrun-script.py")
        if script.is_file():
            return read_launcher(script, "conda-script")
        return read_launcher(path, "exe") if path.suffix.lower() == ".exe" else None
    return read_launcher(path, "script")
