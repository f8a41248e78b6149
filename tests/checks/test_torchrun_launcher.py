from __future__ import annotations

import pytest

from llamadoctor.checks.torchrun_launcher import (
    BASE_CONDA,
    MOVED,
    WIN_BROKEN,
    torchrun_launcher_broken,
    torchrun_wrong_interpreter,
)
from llamadoctor.engine import run_one
from llamadoctor.facts import Facts, Launcher
from llamadoctor.model import Check, Finding, Status
from llamadoctor.registry import run_check
from llamadoctor.testing import linux_gpu, replace_in, windows_conda


def findings(spec: Check, facts: Facts) -> list[Finding]:
    return list(run_check(spec, facts))


def test_windows_conda_launcher_from_the_build_machine() -> None:
    (finding,) = findings(torchrun_launcher_broken, windows_conda(torchrun=WIN_BROKEN))
    assert finding.message == (
        r"torchrun's launcher C:\Users\ada\miniconda3\envs\llama\Scripts\torchrun-script.py names "
        r"C:\cb\PYTORC~1\_h_env\python.exe, which does not exist: torchrun prints only "
        "“failed to create process.”."
    )
    assert finding.remedy == (
        "llamadoctor fix torchrun-launcher-broken\n(until then run "
        r"`C:\Users\ada\miniconda3\envs\llama\python.exe -m torch.distributed.run` instead of torchrun)"
    )
    assert finding.fixes == ("rewrite-torchrun-shebang",)


def test_moved_venv_launcher() -> None:
    (finding,) = findings(torchrun_launcher_broken, linux_gpu(torchrun=MOVED))
    assert "/home/ada/old/.venv/bin/python: bad interpreter: No such file or directory" in finding.message
    assert "/home/ada/llama/.venv/bin/python -m torch.distributed.run" in finding.remedy


def test_launcher_without_a_shebang() -> None:
    odd = Launcher("/home/ada/llama/.venv/bin/torchrun", "script", None, False, "import sys")
    (finding,) = findings(torchrun_launcher_broken, linux_gpu(torchrun=odd))
    assert "names no interpreter (its first line is 'import sys')" in finding.message


def test_no_launcher_is_not_applicable() -> None:
    result = run_one(torchrun_launcher_broken, linux_gpu(torchrun=None))
    assert result.status is Status.NOT_APPLICABLE and result.reason == "the target environment has no torchrun"


def test_wrong_interpreter_names_both_and_the_module_command() -> None:
    (finding,) = findings(torchrun_wrong_interpreter, windows_conda(path_torchrun=BASE_CONDA))
    assert finding.message == (
        r"The torchrun on PATH (C:\Users\ada\miniconda3\Scripts\torchrun-script.py) runs "
        r"C:\Users\ada\miniconda3\python.exe, not the target Python "
        r"C:\Users\ada\miniconda3\envs\llama\python.exe: packages installed for the target are missing there."
    )
    command = finding.remedy.splitlines()[-1]
    assert command == r"C:\Users\ada\miniconda3\envs\llama\python.exe -m torch.distributed.run ..."


@pytest.mark.parametrize(
    "interpreter",
    [
        r"c:\users\ada\MINICONDA3\envs\llama\python.exe",  # Windows paths are case-insensitive
        r"C:\Users\ada\miniconda3\envs\llama\.\python.exe",
    ],
)
def test_same_windows_interpreter_spelled_differently(interpreter: str) -> None:
    launcher = Launcher(r"C:\x\torchrun.exe", "exe", interpreter, True)
    assert findings(torchrun_wrong_interpreter, windows_conda(path_torchrun=launcher)) == []


def test_posix_paths_are_case_sensitive_and_python3_is_the_same_env() -> None:
    same_env = Launcher("/home/ada/llama/.venv/bin/torchrun", "script", "/home/ada/llama/.venv/bin/python3", True)
    assert findings(torchrun_wrong_interpreter, linux_gpu(path_torchrun=same_env)) == []
    other_case = Launcher("/x/torchrun", "script", "/HOME/ada/llama/.venv/bin/python", True)
    assert findings(torchrun_wrong_interpreter, linux_gpu(path_torchrun=other_case))


def test_env_shebang_is_not_judged() -> None:
    env = Launcher("/usr/local/bin/torchrun", "script", "python3", True, "#!/usr/bin/env python3")
    result = run_one(torchrun_wrong_interpreter, linux_gpu(path_torchrun=env))
    assert result.status is Status.SKIPPED and "resolves only at run time" in result.reason


def test_powershell_quotes_a_target_with_spaces() -> None:
    facts = replace_in(
        windows_conda(torchrun=WIN_BROKEN), "python", executable=r"C:\Users\Ada Lovelace\envs\llama\python.exe"
    )
    (finding,) = findings(torchrun_launcher_broken, facts)
    assert r"& 'C:\Users\Ada Lovelace\envs\llama\python.exe' -m torch.distributed.run" in finding.remedy
