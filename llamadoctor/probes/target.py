"""Describe a Python interpreter: where it lives, what it is, and where its torch would come from.

`describe()` uses only the standard library and never imports torch, so the same source runs inside a
foreign interpreter (`--python`) as `python -c`, and in-process when the target is our own interpreter.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from llamadoctor.probes.proc import Run, run


def describe() -> dict[str, Any]:
    import importlib.util
    import os
    import platform
    import sys
    import sysconfig

    # The folder we were started from must not shadow an installed torch (a stray ./torch folder would).
    sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]
    try:
        spec = importlib.util.find_spec("torch")
        torch_dir = os.path.dirname(spec.origin) if spec and spec.origin else None
        torch_error = None
    except Exception as exc:  # a broken .pth or namespace clash: report, don't die
        torch_dir, torch_error = None, f"{type(exc).__name__}: {exc}"
    return {
        "executable": sys.executable,
        "version": platform.python_version(),
        "machine": platform.machine(),
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "scripts": sysconfig.get_path("scripts"),
        "site_packages": sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}),
        "conda": os.path.isdir(os.path.join(sys.prefix, "conda-meta")),
        "torch_dir": torch_dir,
        "torch_find_error": torch_error,
    }


_SCRIPT = "\n".join((
    "from __future__ import annotations",
    inspect.getsource(describe),
    "import json",
    "print(json.dumps(describe()))",
))


class TargetError(Exception):
    """The --python given is not a working Python interpreter."""


def describe_interpreter(executable: str, runner: Run = run, timeout: float = 20.0) -> dict[str, Any]:
    """`describe()` as seen from another interpreter; raises TargetError if it is not one."""
    import subprocess

    try:
        done = runner([executable, "-c", _SCRIPT], timeout)
    except FileNotFoundError:
        raise TargetError(f"{executable} does not exist") from None
    except PermissionError:
        raise TargetError(f"{executable} is not executable") from None
    except OSError as exc:
        raise TargetError(f"{executable} cannot be run: {exc.strerror or exc}") from None
    except subprocess.TimeoutExpired:
        raise TargetError(f"{executable} did not answer within {timeout:.0f} s") from None
    lines = done.stdout.strip().splitlines()
    try:
        data = json.loads(lines[-1]) if done.returncode == 0 and lines else None
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise TargetError(f"{executable} is not a Python 3 interpreter we can run ({tail})")
    return data
