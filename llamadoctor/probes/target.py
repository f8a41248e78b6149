"""Describe a Python interpreter: where it lives, what it is, and where its torch would come from.

`describe()` uses only the standard library and never imports torch, so the same source runs inside a
foreign interpreter (`--python`) as `python -c`, and in-process when the target is our own interpreter.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from llamadoctor.i18n import _
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
        "site_packages": _site_folders(),
        "conda": os.path.isdir(os.path.join(sys.prefix, "conda-meta")),
        "torch_dir": torch_dir,
        "torch_find_error": torch_error,
        "externally_managed": _externally_managed(),
    }


def _site_folders() -> list[str]:
    """The folders this interpreter imports installed packages from, in sys.path's order: site-packages, the
    user's own (`pip install --user`), a distribution's dist-packages, folders .pth files and PYTHONPATH add."""
    import os
    import sys

    folders: list[str] = []
    for entry in sys.path:
        if entry and entry != os.getcwd() and os.path.isdir(entry) and entry not in folders:
            folders.append(entry)
    return folders


def _externally_managed() -> bool:
    """PEP 668: the distribution manages this Python's packages and its pip refuses to install into it.

    The marker sits in the standard library folder; a virtual environment made from that Python is exempt.
    """
    import os
    import sys
    import sysconfig

    stdlib = sysconfig.get_path("stdlib")
    in_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
    return bool(stdlib) and not in_venv and os.path.isfile(os.path.join(stdlib, "EXTERNALLY-MANAGED"))


_SCRIPT = "\n".join(
    (
        "from __future__ import annotations",
        inspect.getsource(_externally_managed),
        inspect.getsource(_site_folders),
        inspect.getsource(describe),
        "import json",
        "print(json.dumps(describe()))",
    )
)


class TargetError(Exception):
    """The --python given is not a working Python interpreter."""


# Where an environment folder keeps its interpreter: a venv on POSIX, a venv on Windows, a conda env on Windows.
INTERPRETERS_IN_ENV = ("bin/python", "bin/python3", "Scripts/python.exe", "python.exe")


def interpreter_in(path: str) -> str:
    """`path` itself, or, for a venv or conda environment folder, the interpreter inside it."""
    import os

    if not os.path.isdir(path):
        return path
    for name in INTERPRETERS_IN_ENV:
        candidate = os.path.join(path, *name.split("/"))
        if os.path.isfile(candidate):
            return candidate
    looked = ", ".join(INTERPRETERS_IN_ENV)
    raise TargetError(
        _("{path} is a folder with no Python in it (looked for {looked})").format(path=path, looked=looked)
    )


def describe_interpreter(executable: str, runner: Run = run, timeout: float = 20.0) -> dict[str, Any]:
    """`describe()` as seen from another interpreter (or the one of an environment folder); raises
    TargetError if it is not one."""
    import subprocess

    executable = interpreter_in(executable)
    try:
        done = runner([executable, "-c", _SCRIPT], timeout)
    except FileNotFoundError:
        raise TargetError(_("{path} does not exist").format(path=executable)) from None
    except PermissionError:
        raise TargetError(_("{path} is not executable").format(path=executable)) from None
    except OSError as exc:
        unrunnable = _("{path} cannot be run: {reason}")
        raise TargetError(unrunnable.format(path=executable, reason=exc.strerror or exc)) from None
    except subprocess.TimeoutExpired:
        silent = _("{path} did not answer within {seconds} s")
        raise TargetError(silent.format(path=executable, seconds=f"{timeout:.0f}")) from None
    lines = done.stdout.strip().splitlines()
    try:
        data = json.loads(lines[-1]) if done.returncode == 0 and lines else None
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        not_python = _("{path} is not a Python 3 interpreter we can run ({output})")
        raise TargetError(not_python.format(path=executable, output=tail))
    wrong = _wrong_fields(data)
    if wrong:
        odd = _("{path} answered, but not as a Python 3 interpreter would ({fields})")
        raise TargetError(odd.format(path=executable, fields=wrong))
    return data


_TEXT_FIELDS = ("executable", "version", "machine", "prefix", "base_prefix", "scripts")
_OPTIONAL_TEXT_FIELDS = ("torch_dir", "torch_find_error")


def _wrong_fields(data: dict[str, Any]) -> str:
    """What in describe()'s answer does not have the shape describe() gives it, or ""."""
    bad = [k for k in _TEXT_FIELDS if not isinstance(data.get(k), str)]
    bad += [k for k in _OPTIONAL_TEXT_FIELDS if not isinstance(data.get(k), (str, type(None)))]
    sites = data.get("site_packages", [])
    if not isinstance(sites, list) or not all(isinstance(p, str) for p in sites):
        bad.append("site_packages")
    return f"{', '.join(bad)} missing or mistyped" if bad else ""
