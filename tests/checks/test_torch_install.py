from __future__ import annotations

from llamadoctor.checks.torch_cpu_only import (
    torch_cpu_only,
)
from llamadoctor.checks.torch_install import (
    torch_broken,
    torch_missing,
)
from llamadoctor.facts import Facts, GpuInfo
from llamadoctor.model import Check, Finding
from llamadoctor.registry import run_check
from llamadoctor.testing import (
    gpu,
    linux_cpu,
    linux_cpu_only_torch,
    linux_gpu,
    mac_arm,
    no_torch,
    nvidia,
    replace_in,
    torch_info,
    windows_conda,
)


def one(spec: Check, facts: Facts) -> Finding:
    findings = list(run_check(spec, facts))
    assert len(findings) == 1, findings
    return findings[0]


def test_missing_torch_on_a_gpu_machine_names_the_cuda_index_for_its_driver() -> None:
    finding = one(torch_missing, linux_gpu(torch=no_torch()))
    why, command = finding.remedy.splitlines()  # the reason as a comment: the block pastes and runs as is
    assert (
        command
        == "/home/ada/llama/.venv/bin/python -m pip install torch --index-url https://download.pytorch.org/whl/cu121"
    )
    assert why == "# cu121 is the newest PyTorch CUDA build driver 535.104.05 (CUDA 12.2) runs"
    assert finding.evidence["flavour"] == "cu121"


def test_missing_torch_per_platform() -> None:
    assert one(torch_missing, linux_cpu(torch=no_torch())).remedy.splitlines()[-1] == (
        "/home/ada/llama/.venv/bin/python -m pip install torch --index-url https://download.pytorch.org/whl/cpu"
    )
    mac = one(torch_missing, mac_arm(torch=no_torch()))
    assert mac.remedy == "/Users/ada/llama/.venv/bin/python -m pip install torch"
    windows = one(torch_missing, windows_conda(torch=no_torch()))
    # driver 546.33 reports CUDA 12.3: cu121 is the newest build it runs natively
    assert windows.remedy.splitlines()[-1] == (
        r"C:\Users\ada\miniconda3\envs\llama\python.exe -m pip install torch "
        "--index-url https://download.pytorch.org/whl/cu121"
    )
    no_gpu_windows = one(torch_missing, windows_conda(torch=no_torch(), gpu=GpuInfo()))
    assert no_gpu_windows.remedy == r"C:\Users\ada\miniconda3\envs\llama\python.exe -m pip install torch"


def test_missing_torch_with_a_driver_too_old_for_every_wheel() -> None:
    rtx5090 = gpu("NVIDIA GeForce RTX 5090", cc=(12, 0))
    facts = linux_gpu(torch=no_torch(), gpu=nvidia(rtx5090, driver="550.54.14", driver_cuda="12.4"))
    finding = one(torch_missing, facts)
    assert "whl/cu128" in finding.remedy
    assert "update the NVIDIA driver to 570.26 or newer first" in finding.remedy


def test_powershell_quotes_a_python_path_with_spaces() -> None:
    facts = replace_in(windows_conda(torch=no_torch()), "python", executable=r"C:\Program Files\Python311\python.exe")
    remedy = one(torch_missing, facts).remedy
    assert remedy.splitlines()[-1].startswith(r"& 'C:\Program Files\Python311\python.exe' -m pip install")


def test_broken_torch_reports_the_error_line_and_a_reinstall() -> None:
    facts = replace_in(linux_gpu(), "torch", broken="OSError: libcudnn.so.8: cannot open shared object file")
    finding = one(torch_broken, facts)
    assert finding.message == (
        "torch 2.3.1+cu121 at /usr/lib/python3/site-packages/torch is installed but files of "
        "the installation are broken: OSError: libcudnn.so.8: cannot open shared object file"
    )
    assert "--force-reinstall torch --index-url https://download.pytorch.org/whl/cu121" in finding.remedy


def test_cpu_only_torch_names_the_gpu_driver_and_command() -> None:
    finding = one(torch_cpu_only, linux_cpu_only_torch())
    assert finding.message.startswith(
        "torch 2.3.1+cpu has no CUDA, but this machine has an NVIDIA GeForce RTX 3090 (driver 535.104.05, CUDA 12.2)"
    )
    assert finding.remedy.splitlines()[-1] == (
        "/home/ada/llama/.venv/bin/python -m pip install --force-reinstall torch "
        "--index-url https://download.pytorch.org/whl/cu121"
    )


def test_cpu_only_torch_on_blackwell_needs_cu128() -> None:
    facts = linux_cpu_only_torch(
        gpu=nvidia(gpu("NVIDIA GeForce RTX 5090", cc=(12, 0)), driver="570.124.04", driver_cuda="12.8")
    )
    assert "whl/cu128" in one(torch_cpu_only, facts).remedy


def test_cpu_only_is_not_flagged_for_rocm_builds() -> None:
    facts = linux_cpu_only_torch(torch=torch_info("2.3.1+rocm6.0", hip="6.0", nccl=True))
    assert list(run_check(torch_cpu_only, facts)) == []
