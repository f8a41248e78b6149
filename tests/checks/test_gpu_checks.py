from __future__ import annotations

import pytest

from llamadoctor.checks.bf16_unsupported import TESLA_T4, bf16_unsupported
from llamadoctor.checks.cuda_driver_too_old import cuda_driver_too_old
from llamadoctor.checks.gpu_arch_unsupported import GTX_1080, RTX_5090, gpu_arch_unsupported
from llamadoctor.engine import run_one
from llamadoctor.facts import Facts, GpuInfo, Options
from llamadoctor.model import Check, Finding, Severity, Status
from llamadoctor.registry import run_check
from llamadoctor.testing import linux_cpu, linux_gpu, nvidia, replace_in, torch_info, windows_conda


def findings(spec: Check, facts: Facts) -> list[Finding]:
    return list(run_check(spec, facts))


# ---- cuda-driver-too-old -------------------------------------------------------------------------


def test_driver_of_an_older_major_is_an_error_with_torchs_own_number() -> None:
    (finding,) = findings(cuda_driver_too_old, linux_gpu(gpu=nvidia(driver="470.86", driver_cuda="11.4")))
    assert finding.severity is Severity.ERROR
    assert finding.message == (
        "torch 2.3.1+cu121 needs CUDA 12.1 but driver 470.86 supports only CUDA 11.4: CUDA fails with "
        "“The NVIDIA driver on your system is too old (found version 11040)”."
    )
    # the fix: the driver CUDA 12.1 needs, or the build R470 runs (cu118, by minor version compatibility)
    assert finding.remedy.startswith("update the NVIDIA driver to 530.30.02 or newer, or install the torch build")
    assert finding.remedy.endswith("--force-reinstall torch --index-url https://download.pytorch.org/whl/cu118")
    assert finding.evidence == {"torch_cuda": "12.1", "driver_cuda": "11.4", "driver": "470.86"}


def test_windows_driver_minimum_is_the_windows_one() -> None:
    (finding,) = findings(cuda_driver_too_old, windows_conda(gpu=nvidia(driver="516.94", driver_cuda="11.7")))
    assert "update the NVIDIA driver to 531.14 or newer" in finding.remedy
    assert finding.remedy.endswith(
        r"python.exe -m pip install --force-reinstall torch "
        "--index-url https://download.pytorch.org/whl/cu117"
    )


def test_same_major_older_minor_is_a_warning() -> None:
    facts = linux_gpu(torch=torch_info("2.7.1", cuda="12.8"), gpu=nvidia(driver="535.104.05", driver_cuda="12.2"))
    (finding,) = findings(cuda_driver_too_old, facts)
    assert finding.severity is Severity.WARNING
    assert "any driver from 525.60.13" in finding.message
    assert "update the NVIDIA driver to 570.26 or newer" in finding.remedy


def test_driver_cuda_is_derived_from_the_driver_version_when_nvml_did_not_say() -> None:
    facts = linux_gpu(gpu=GpuInfo(gpus=nvidia().gpus, driver_version="470.86", source="nvidia-smi"))
    (finding,) = findings(cuda_driver_too_old, facts)
    assert "supports only CUDA 11.4" in finding.message


def test_driver_check_applies_only_to_a_cuda_torch_with_a_gpu_and_skips_an_unknown_driver() -> None:
    assert run_one(cuda_driver_too_old, linux_cpu()).reason == "torch is not a CUDA build"
    assert run_one(cuda_driver_too_old, linux_gpu(gpu=GpuInfo())).reason == "no NVIDIA GPU found"
    unknown = run_one(cuda_driver_too_old, linux_gpu(gpu=GpuInfo(gpus=nvidia().gpus)))
    assert unknown.status is Status.SKIPPED and "driver's version is unknown" in unknown.reason


# ---- gpu-arch-unsupported ------------------------------------------------------------------------


def test_blackwell_on_a_cu121_build() -> None:
    (finding,) = findings(gpu_arch_unsupported, linux_gpu(gpu=RTX_5090))
    assert finding.message == (
        "GPU 0, NVIDIA GeForce RTX 5090, has compute capability 12.0 (sm_120), but torch 2.3.1+cu121 "
        "has kernels only for sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90 (from PyTorch's build table): "
        "CUDA code fails with "
        "“no kernel image is available for execution on the device”."
    )
    assert "--index-url https://download.pytorch.org/whl/cu128" in finding.remedy
    assert finding.evidence["arch_list_source"] == "build table"


def test_pascal_on_cu128_gets_cu126() -> None:
    archs = ("sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120")
    facts = linux_gpu(gpu=GTX_1080, torch=torch_info("2.8.0", cuda="12.8", arch_list=archs))
    (finding,) = findings(gpu_arch_unsupported, facts)
    assert "6.1 (sm_61)" in finding.message
    why, command = finding.remedy.splitlines()
    assert why == "# cu126 is the newest PyTorch CUDA build driver 570.124.04 (CUDA 12.8) runs"
    assert command.endswith("--index-url https://download.pytorch.org/whl/cu126")


def test_arch_list_read_from_torch_is_named() -> None:
    facts = replace_in(linux_gpu(gpu=RTX_5090), "torch", arch_list_source="torch")
    (finding,) = findings(gpu_arch_unsupported, facts)
    assert "(read from torch)" in finding.message


def test_ptx_covers_newer_gpus() -> None:
    torch = torch_info("2.3.1", cuda="12.1", arch_list=("sm_80", "compute_90"))
    facts = linux_gpu(gpu=RTX_5090, torch=torch)
    assert findings(gpu_arch_unsupported, facts) == []


def test_arch_check_skips_when_the_arch_list_is_unknown() -> None:
    result = run_one(gpu_arch_unsupported, linux_gpu(torch=torch_info("2.3.1", cuda="12.2", arch_list=())))
    assert result.status is Status.SKIPPED and "unknown" in result.reason


# ---- bf16-unsupported ----------------------------------------------------------------------------


def test_bf16_names_gpu_and_capability() -> None:
    (finding,) = findings(bf16_unsupported, linux_gpu(gpu=TESLA_T4))
    assert finding.message.startswith("GPU 0, Tesla T4 has compute capability 7.5: “Bfloat16 is only supported")
    assert finding.remedy.startswith("run with --dtype fp16")


@pytest.mark.parametrize("dtype", ["fp16", "fp32"])
def test_bf16_silent_when_another_dtype_is_asked(dtype: str) -> None:
    assert findings(bf16_unsupported, linux_gpu(gpu=TESLA_T4, options=Options(dtype=dtype))) == []


def test_bf16_still_flags_an_explicit_bf16_run() -> None:
    assert findings(bf16_unsupported, linux_gpu(gpu=TESLA_T4, options=Options(dtype="bf16")))
