"""An NVIDIA GPU, but a torch built without CUDA."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.advice import install_advice
from llamadoctor.checks._requires import NVIDIA_GPU, TORCH
from llamadoctor.facts import Facts
from llamadoctor.i18n import _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Severity
from llamadoctor.registry import check
from llamadoctor.testing import (
    gpu,
    linux_cpu,
    linux_cpu_only_torch,
    linux_gpu,
    mac_arm,
    nvidia,
    torch_info,
    windows_conda,
)


@check(
    id="torch-cpu-only",
    summary="An NVIDIA GPU is present but torch was built without CUDA",
    severity=Severity.ERROR,
    group=Group.GPU,
    platforms=("linux", "windows"),
    fixes=("reinstall-torch-cuda",),
    requires=(TORCH, NVIDIA_GPU),
    checked=lambda facts: _("torch {version} is a {build} build for the GPU").format(
        version=facts.torch.version, build=_build(facts)
    ),
    examples=[
        Healthy(linux_gpu()),
        Inapplicable(linux_cpu(), expect="no NVIDIA GPU"),
        Inapplicable(mac_arm(), expect="only on Linux and Windows"),
        Broken(linux_cpu_only_torch(), expect="Torch not compiled with CUDA enabled"),
        Broken(linux_cpu_only_torch(), expect="NVIDIA GeForce RTX 3090 (driver 535.104.05, CUDA 12.2)"),
        Broken(windows_conda(torch=torch_info("2.5.1", nccl=False, libuv=False)), expect="torch 2.5.1 has no CUDA"),
        Broken(
            linux_cpu_only_torch(
                gpu=nvidia(
                    gpu("NVIDIA GeForce RTX 5090", vram_gib=32, cc=(12, 0)), driver="570.124.04", driver_cuda="12.8"
                )
            ),
            expect="RTX 5090",
        ),
    ],
)
def torch_cpu_only(facts: Facts) -> Iterator[Finding]:
    """The machine has an NVIDIA GPU, but the installed torch is a CPU-only build.

    What it checks: an NVIDIA GPU was found (NVML or nvidia-smi) while torch reports no CUDA version (and no
    ROCm): a `+cpu` wheel, plain `pip install torch` on Windows, or conda's default CPU package.
    Why it matters: everything then runs on the CPU, or code that asks for the GPU stops with
    `AssertionError: Torch not compiled with CUDA enabled`; Meta's reference code first fails on NCCL.
    How to fix: reinstall torch from PyTorch's index for the newest CUDA build the driver supports (natively,
    so
    nothing depends on minor-version compatibility), with the target interpreter's pip:
    `python -m pip install --force-reinstall torch --index-url https://download.pytorch.org/whl/cu121`.
    """
    torch = facts.torch
    if torch.cuda is not None or torch.hip is not None:
        return
    first = facts.gpu.gpus[0]
    more = len(facts.gpu.gpus) - 1
    # TRANSLATORS: follows a GPU's name when the machine has more GPUs.
    others = _(" and {count} more").format(count=more) if more else ""
    advice = install_advice(facts, reinstall=True)
    yield torch_cpu_only.finding(
        _(
            "torch {version} has no CUDA, but this machine has an {gpu}{others} ({driver}): code that uses the GPU "
            "fails with “Torch not compiled with CUDA enabled”."
        ).format(version=torch.version, gpu=first.name, others=others, driver=_gpu_driver(facts)),
        remedy=advice.remedy,
        torch=torch.version,
        gpu=first.name,
        flavour=advice.flavour,
    )


def _build(facts: Facts) -> str:
    return f"ROCm {facts.torch.hip}" if facts.torch.hip else f"CUDA {facts.torch.cuda}"


def _gpu_driver(facts: Facts) -> str:
    """'driver 535.104.05, CUDA 12.2'."""
    parts = []
    if facts.gpu.driver_version:
        parts.append(_("driver {version}").format(version=facts.gpu.driver_version))
    if facts.gpu.driver_cuda:
        parts.append(f"CUDA {facts.gpu.driver_cuda}")
    return _(", ").join(parts) or _("driver version unknown")
