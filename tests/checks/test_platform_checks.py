from __future__ import annotations

import pytest

from llamadoctor.checks.nccl_unavailable import nccl_unavailable
from llamadoctor.checks.python_arch_mismatch import python_arch_mismatch
from llamadoctor.checks.windows_libuv import WIN_TORCH_25, windows_libuv
from llamadoctor.engine import run_one
from llamadoctor.facts import Facts
from llamadoctor.model import Check, Finding, Status
from llamadoctor.registry import run_check
from llamadoctor.testing import linux_gpu, mac_arm_x86_python, no_torch, replace_in, torch_info, windows_conda


def findings(spec: Check, facts: Facts) -> list[Finding]:
    return list(run_check(spec, facts))


def test_rosetta_python_message_and_remedy() -> None:
    (finding,) = findings(python_arch_mismatch, mac_arm_x86_python())
    assert finding.message.startswith(
        "This Mac has an Apple Silicon (arm64) CPU, but the Python at /Users/ada/llama/.venv/bin/python is "
        "x86_64 and runs under Rosetta"
    )
    assert "(have 'x86_64', need 'arm64')" in finding.message
    assert "Miniforge3-MacOSX-arm64.sh" in finding.remedy and "/opt/homebrew" in finding.remedy


def test_nccl_message_names_the_reason_and_the_hardcoded_call() -> None:
    (finding,) = findings(nccl_unavailable, windows_conda())
    assert finding.message == (
        "torch 2.3.1+cu121 has no NCCL (NCCL does not exist for Windows); gloo works, but Meta's reference "
        'code calls init_process_group("nccl") and stops with “Distributed package doesn\'t have NCCL '
        "built in”."
    )
    assert "gloo" in finding.remedy


def test_nccl_needs_torch_and_skips_when_its_nccl_is_unknown() -> None:
    assert run_one(nccl_unavailable, linux_gpu(torch=no_torch())).status is Status.NOT_APPLICABLE
    assert run_one(nccl_unavailable, replace_in(linux_gpu(), "torch", nccl=None)).status is Status.SKIPPED


@pytest.mark.parametrize(
    ("shell", "command"),
    [("powershell", '$env:USE_LIBUV = "0"'), ("cmd", "set USE_LIBUV=0"), ("bash", "export USE_LIBUV=0")],
)
def test_libuv_remedy_in_the_users_shell(shell: str, command: str) -> None:
    facts = replace_in(windows_conda(torch=WIN_TORCH_25), "platform", shell=shell)
    (finding,) = findings(windows_libuv, facts)
    assert finding.remedy == f"{command} in this shell before running torchrun"


@pytest.mark.parametrize("version", ["2.3.1", "2.4.0"])
def test_libuv_starts_at_torch_24(version: str) -> None:
    torch = torch_info(version, cuda="12.1", nccl=False, libuv=False)
    assert bool(findings(windows_libuv, windows_conda(torch=torch))) is (version == "2.4.0")


def test_libuv_built_in_is_fine() -> None:
    torch = torch_info("2.5.1", cuda="12.1", nccl=False, libuv=True)
    assert findings(windows_libuv, windows_conda(torch=torch)) == []
