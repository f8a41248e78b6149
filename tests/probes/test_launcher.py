"""torchrun launchers as they exist on disk: conda's Windows script, pip's exe, a moved venv."""

from __future__ import annotations

import sys
import zipfile
from io import BytesIO
from pathlib import Path

from llamadoctor.probes.launcher import launcher_on_path, read_launcher, target_launcher

CONDA_SCRIPT = (
    b"#!C:\\cb\\PYTORC~1\\_h_env\\python.exe\r\n# -*- coding: utf-8 -*-\r\nimport re\r\nimport sys\r\n"
    b"from torch.distributed.run import main\r\n"
)


def test_conda_windows_script_names_a_build_machine_python(tmp_path: Path) -> None:
    scripts = tmp_path / "Scripts"
    scripts.mkdir()
    (scripts / "torchrun-script.py").write_bytes(CONDA_SCRIPT)
    (scripts / "torchrun.exe").write_bytes(b"MZ stub")
    launcher = target_launcher(scripts, "windows")
    assert launcher is not None and launcher.kind == "conda-script"
    assert launcher.interpreter == r"C:\cb\PYTORC~1\_h_env\python.exe" and launcher.interpreter_exists is False


def test_pip_windows_exe_carries_its_shebang_before_the_zip(tmp_path: Path) -> None:
    payload = BytesIO()
    with zipfile.ZipFile(payload, "w") as zf:
        zf.writestr("__main__.py", "from torch.distributed.run import main\nmain()\n")
    exe = tmp_path / "torchrun.exe"
    exe.write_bytes(b"MZ" + b"\0" * 200 + b'#!"C:\\Program Files\\Python311\\python.exe"\r\n' + payload.getvalue())
    launcher = read_launcher(exe, "exe")
    assert launcher is not None and launcher.interpreter == r"C:\Program Files\Python311\python.exe"


def test_moved_venv_launcher_points_at_a_missing_interpreter(tmp_path: Path) -> None:
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "torchrun").write_text("#!/home/old/place/venv/bin/python3\nimport sys\n")
    launcher = target_launcher(bin_dir, "linux")
    assert launcher is not None and launcher.interpreter == "/home/old/place/venv/bin/python3"
    assert launcher.interpreter_exists is False


def test_healthy_launcher_and_pip_long_path_trick(tmp_path: Path) -> None:
    good = tmp_path / "torchrun"
    good.write_text(f"#!{sys.executable}\nimport sys\n")
    assert read_launcher(good, "script").interpreter_exists is True  # type: ignore[union-attr]
    trick = tmp_path / "torchrun2"
    trick.write_text(f"#!/bin/sh\n'''exec' \"{sys.executable}\" \"$0\" \"$@\"\n' '''\nimport sys\n")
    launcher = read_launcher(trick, "script")
    assert launcher is not None and launcher.interpreter == sys.executable and launcher.interpreter_exists


def test_env_shebang_is_looked_up_on_path(tmp_path: Path) -> None:
    script = tmp_path / "torchrun"
    script.write_text("#!/usr/bin/env python3\n")
    launcher = read_launcher(script, "script", exists=lambda name: name == "python3")
    assert launcher is not None and launcher.interpreter == "python3" and launcher.interpreter_exists


def test_missing_or_unreadable_launchers_give_no_facts(tmp_path: Path) -> None:
    assert target_launcher(tmp_path, "linux") is None
    assert launcher_on_path(None, "linux") is None
    assert read_launcher(tmp_path / "nope", "script") is None
