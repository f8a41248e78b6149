from __future__ import annotations

from llamadoctor.checks.torch_cpu_only import (
    torch_cpu_only,
)
from llamadoctor.fixes.reinstall_torch_cuda import reinstall_torch_cuda
from llamadoctor.model import Manual
from llamadoctor.testing import linux_cpu_only_torch, linux_gpu, mac_arm, no_torch, torch_info, windows_conda


def test_noop_on_healthy_machines() -> None:
    finding = torch_cpu_only.finding("stale finding")
    assert reinstall_torch_cuda.plan(finding, linux_gpu()) == ()
    assert reinstall_torch_cuda.plan(finding, mac_arm()) == ()
    # a driver that runs torch's CUDA through minor version compatibility needs no reinstall
    assert reinstall_torch_cuda.plan(finding, linux_gpu(torch=torch_info("2.5.1", cuda="12.4"))) == ()


def test_cpu_only_torch_gets_the_cuda_command() -> None:
    facts = linux_cpu_only_torch()
    finding = next(iter(torch_cpu_only.func(facts)))
    (action,) = reinstall_torch_cuda.plan(finding, facts)
    assert isinstance(action, Manual)
    assert action.commands == (
        "/home/ada/llama/.venv/bin/python -m pip install --force-reinstall torch "
        "--index-url https://download.pytorch.org/whl/cu121",
    )
    assert "CUDA 12.1 (cu121)" in action.text and "driver 535.104.05 (CUDA 12.2) runs it" in action.text


def test_missing_torch_on_windows_installs_without_force() -> None:
    facts = windows_conda(torch=no_torch())
    (action,) = reinstall_torch_cuda.plan(torch_cpu_only.finding("x"), facts)
    assert isinstance(action, Manual)
    assert action.commands == (
        r"C:\Users\ada\miniconda3\envs\llama\python.exe -m pip install torch "
        "--index-url https://download.pytorch.org/whl/cu121",
    )
