from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from llamadoctor.checks.torchrun_launcher import (
    torchrun_launcher_broken,
)
from llamadoctor.facts import Facts, Launcher
from llamadoctor.fixes.rewrite_torchrun_shebang import rewrite_torchrun_shebang
from llamadoctor.model import Manual, WriteFile
from llamadoctor.probes.launcher import read_launcher
from llamadoctor.testing import linux_gpu, replace_in, windows_conda

CONDA_SCRIPT = (
    b"#!C:\\cb\\PYTORC~1\\_h_env\\python.exe\r\n"
    b"# -*- coding: utf-8 -*-\r\n"
    b"import re\r\n"
    b"import sys\r\n"
    b"\r\n"
    b"from torch.distributed.run import main\r\n"
    b"\r\n"
    b"if __name__ == '__main__':\r\n"
    b"    sys.argv[0] = re.sub(r'(-script\\.pyw?|\\.exe)?$', '', sys.argv[0])\r\n"
    b"    sys.exit(main())\r\n"
)
PIP_SCRIPT = (
    b"#!/home/ada/old/.venv/bin/python\n"
    b"# -*- coding: utf-8 -*-\n"
    b"import re\n"
    b"import sys\n"
    b"from torch.distributed.run import main\n"
    b'if __name__ == "__main__":\n'
    b'    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])\n'
    b"    sys.exit(main())\n"
)


def broken(facts: Facts, path: Path, kind: str, interpreter: str) -> Facts:
    """`facts` with a torchrun at `path` naming a missing `interpreter`, its script read by the probe."""
    probed = read_launcher(path, kind)
    content = probed.content if probed is not None else None
    launcher = Launcher(str(path), kind, interpreter, False, "#!" + interpreter, content)
    return replace_in(
        facts,
        "torchrun",
        **{f: getattr(launcher, f) for f in ("path", "kind", "interpreter", "interpreter_exists", "line", "content")},
    )


def plan(facts: Facts) -> tuple[object, ...]:
    finding = torchrun_launcher_broken.finding("torchrun is broken")
    return rewrite_torchrun_shebang.plan(finding, facts)


def test_noop_when_the_launcher_works() -> None:
    assert plan(linux_gpu()) == ()
    assert plan(windows_conda()) == ()
    assert plan(linux_gpu(torchrun=None)) == ()


def test_windows_conda_script_keeps_crlf_and_every_other_byte(tmp_path: Path) -> None:
    script = tmp_path / "torchrun-script.py"
    script.write_bytes(CONDA_SCRIPT)
    facts = broken(windows_conda(), script, "conda-script", r"C:\cb\PYTORC~1\_h_env\python.exe")
    (action,) = plan(facts)
    assert isinstance(action, WriteFile)
    assert action.path == str(script) and action.before == CONDA_SCRIPT and action.mode is None
    assert (
        action.after == b"#!C:\\Users\\ada\\miniconda3\\envs\\llama\\python.exe\r\n" + CONDA_SCRIPT.split(b"\r\n", 1)[1]
    )
    assert script.read_bytes() == CONDA_SCRIPT  # planning wrote nothing


def test_windows_interpreter_with_spaces_is_quoted(tmp_path: Path) -> None:
    script = tmp_path / "torchrun-script.py"
    script.write_bytes(CONDA_SCRIPT)
    facts = replace_in(
        broken(windows_conda(), script, "conda-script", r"C:\cb\python.exe"),
        "python",
        executable=r"C:\Users\Ada Lovelace\envs\llama\python.exe",
    )
    (action,) = plan(facts)
    assert isinstance(action, WriteFile)
    assert action.after.startswith(b'#!"C:\\Users\\Ada Lovelace\\envs\\llama\\python.exe"\r\n# -*-')


def test_moved_venv_gets_the_new_python_and_keeps_its_mode(tmp_path: Path) -> None:
    script = tmp_path / "torchrun"
    script.write_bytes(PIP_SCRIPT)
    script.chmod(0o755)
    facts = broken(linux_gpu(), script, "script", "/home/ada/old/.venv/bin/python")
    (action,) = plan(facts)
    assert isinstance(action, WriteFile)
    assert action.after == PIP_SCRIPT.replace(b"/home/ada/old/", b"/home/ada/llama/", 1)
    assert action.mode is None
    assert sys.platform == "win32" or stat.S_IMODE(script.stat().st_mode) == 0o755


def test_posix_interpreter_with_spaces_uses_pips_exec_header(tmp_path: Path) -> None:
    script = tmp_path / "torchrun"
    script.write_bytes(PIP_SCRIPT)
    facts = replace_in(
        broken(linux_gpu(), script, "script", "/old/python"), "python", executable="/home/ada/my envs/llama/bin/python"
    )
    (action,) = plan(facts)
    assert isinstance(action, WriteFile)
    head = b"#!/bin/sh\n'''exec' \"/home/ada/my envs/llama/bin/python\" \"$0\" \"$@\"\n' '''\n"
    assert action.after == head + PIP_SCRIPT.split(b"\n", 1)[1]
    # applying it to a file that already has that header replaces the header, not just its first line
    script.write_bytes(action.after)
    again = replace_in(
        broken(facts, script, "script", "/old/python"), "python", executable="/home/ada/llama/.venv/bin/python"
    )
    (second,) = plan(again)
    assert isinstance(second, WriteFile)
    assert second.after == PIP_SCRIPT.replace(b"/home/ada/old/", b"/home/ada/llama/", 1)


def test_exe_launchers_are_reinstalled_not_edited(tmp_path: Path) -> None:
    exe = tmp_path / "torchrun.exe"
    exe.write_bytes(b"MZ\x90\x00binary")
    facts = broken(windows_conda(), exe, "exe", r"C:\old\python.exe")
    (action,) = plan(facts)
    assert isinstance(action, Manual)
    assert action.commands == (
        r"C:\Users\ada\miniconda3\envs\llama\python.exe -m pip install --force-reinstall --no-deps torch",
    )


def test_unreadable_launcher_becomes_a_manual_step(tmp_path: Path) -> None:
    facts = broken(linux_gpu(), tmp_path / "missing", "script", "/old/python")
    (action,) = plan(facts)
    assert isinstance(action, Manual) and "edit its first line" in action.text


@pytest.mark.parametrize("data", [b"", b"import sys\n"])
def test_launcher_without_a_header_gets_one_prepended(tmp_path: Path, data: bytes) -> None:
    script = tmp_path / "torchrun"
    script.write_bytes(data)
    (action,) = plan(broken(linux_gpu(), script, "script", "/old/python"))
    assert isinstance(action, WriteFile)
    assert action.after == b"#!/home/ada/llama/.venv/bin/python\n" + data


@pytest.mark.skipif(sys.platform == "win32", reason="Windows does not run #! lines")
def test_applied_launcher_runs(tmp_path: Path) -> None:
    """The rewritten #! line is one the kernel accepts: run it with this machine's python."""
    import subprocess

    script = tmp_path / "torchrun"
    script.write_bytes(b"#!/gone/python\nimport sys\nprint(sys.executable)\n")
    script.chmod(0o755)
    facts = replace_in(broken(linux_gpu(), script, "script", "/gone/python"), "python", executable=sys.executable)
    (action,) = plan(facts)
    assert isinstance(action, WriteFile)
    script.write_bytes(action.after)
    out = subprocess.run([str(script)], capture_output=True, text=True, check=True, timeout=30)
    assert out.stdout.strip() == sys.executable
