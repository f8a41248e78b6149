"""On a Python whose pip refuses to install (PEP 668), every install remedy makes a virtual environment first."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from llamadoctor.advice import install_advice
from llamadoctor.checks.torch_cpu_only import torch_cpu_only
from llamadoctor.checks.torch_install import torch_broken, torch_missing
from llamadoctor.facts import Facts
from llamadoctor.probes import target
from llamadoctor.testing import debian_system_python, nvidia, replace_in, torch_info

CASES = {
    "missing": (torch_missing, debian_system_python()),
    "broken": (torch_broken, debian_system_python(torch=torch_info("2.3.1", broken="OSError: libc10.so"))),
    "cpu-only": (torch_cpu_only, debian_system_python(torch=torch_info("2.3.1+cpu"), gpu=nvidia())),
}


def _remedy(spec: object, facts: Facts) -> str:
    findings = list(spec.func(facts))  # type: ignore[attr-defined]
    assert len(findings) == 1, findings
    return findings[0].remedy


@pytest.mark.parametrize(("spec", "facts"), CASES.values(), ids=CASES.keys())
def test_install_remedies_make_a_venv_where_pip_refuses(spec: object, facts: Facts) -> None:
    commands = [line for line in _remedy(spec, facts).splitlines() if not line.startswith("#")]
    assert commands[0] == "/usr/bin/python3 -m venv llama-venv"
    assert commands[-1].startswith("llama-venv/bin/python -m pip install")
    assert not any(line.startswith("/usr/bin/python3 -m pip") for line in commands)


def test_the_remedy_says_why_and_how_to_run_llama_afterwards() -> None:
    remedy = install_advice(debian_system_python()).remedy
    assert "# /usr/bin/python3 is managed by the system (PEP 668)" in remedy
    assert "llama-venv/bin/python" in remedy.splitlines()[1]


def test_a_venv_python_keeps_the_plain_pip_command() -> None:
    facts = replace_in(debian_system_python(), "python", externally_managed=False)
    assert (
        install_advice(facts).command == "/usr/bin/python3 -m pip install torch --index-url "
        "https://download.pytorch.org/whl/cpu"
    )


def _fake_python(tmp_path: Path, *, marker: bool) -> Path:
    """An interpreter whose stdlib folder has (or lacks) the EXTERNALLY-MANAGED marker, outside any venv."""
    stdlib = tmp_path / "stdlib"
    stdlib.mkdir()
    if marker:
        (stdlib / "EXTERNALLY-MANAGED").write_text("[externally-managed]\nError=use apt\n")
    shim = tmp_path / "shim.py"
    shim.write_text(
        f"import sys, sysconfig\nsys.base_prefix = sys.prefix\n"
        f"sysconfig.get_path = lambda name, *a, **k: {str(stdlib)!r}\nexec(sys.argv[2])\n"
    )
    script = tmp_path / "python"
    script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(shim))} "$@"\n')
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("marker", [True, False])
def test_the_probe_reads_the_marker_of_the_target_python(tmp_path: Path, marker: bool) -> None:
    python = _fake_python(tmp_path, marker=marker)
    assert subprocess.run([python, "-c", "print(1)"], capture_output=True, text=True, timeout=30).stdout == "1\n"
    assert target.describe_interpreter(str(python))["externally_managed"] is marker
