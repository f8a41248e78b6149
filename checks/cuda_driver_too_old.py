"""The NVIDIA driver against the CUDA runtime inside torch's wheel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llamadoctor.advice import install_advice
from llamadoctor.checks._requires import CUDA_TORCH, NVIDIA_GPU
from llamadoctor.facts import Facts
from llamadoctor.i18n import _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Severity, SkipCheck
from llamadoctor.registry import check
from llamadoctor.testing import linux_cpu, linux_gpu, nvidia, torch_info, windows_conda
from llamadoctor.torch_builds import (
    driver_cuda_for,
    driver_error_number,
    min_driver,
    minor_compat_driver,
    runs_by_minor_compat,
    version_tuple,
)


@check(
    id="cuda-driver-too-old",
    summary="The NVIDIA driver is older than the CUDA torch was built for",
    severity=Severity.ERROR,
    group=Group.GPU,
    platforms=("linux", "windows"),
    fixes=("reinstall-torch-cuda",),
    requires=(CUDA_TORCH, NVIDIA_GPU),
    checked=lambda facts: _("driver {driver} against torch's CUDA {cuda}").format(
        driver=facts.gpu.driver_version, cuda=facts.torch.cuda
    ),
    examples=[
        Healthy(linux_gpu()),
        Healthy(windows_conda()),
        Inapplicable(linux_cpu(), expect="not a CUDA build"),
        Broken(linux_gpu(gpu=nvidia(driver="470.86", driver_cuda="11.4")), expect="found version 11040"),
        Broken(windows_conda(gpu=nvidia(driver="516.94", driver_cuda="11.7")), expect="driver 516.94"),
        Broken(
            linux_gpu(torch=torch_info("2.7.1", cuda="12.8"), gpu=nvidia(driver="535.104.05")),
            expect="minor version compatibility",
        ),
    ],
)
def cuda_driver_too_old(facts: Facts) -> Iterator[Finding]:
    """The NVIDIA driver supports an older CUDA than the one torch's wheel ships.

    What it checks: the highest CUDA the driver supports (what `nvidia-smi` prints as "CUDA Version") against
    `torch.version.cuda`, using NVIDIA's driver table (llamadoctor/data/cuda_drivers.json).
    Why it matters: with a driver of an older CUDA *major* (an R470 driver, CUDA 11.4, under a cu121 wheel),
    CUDA does not initialise: `RuntimeError: The NVIDIA driver on your system is too old (found version
    11040)`. Within one major, CUDA's minor version compatibility lets a 12.x runtime run on any driver from
    R525 (525.60.13 on Linux, 527.41 on Windows); PyTorch's wheels rely on it, so that case is only a warning:
    PTX that must be JIT-compiled for a GPU missing from the wheel, and Triton kernels, can still fail with
    "the provided PTX was compiled with an unsupported toolchain".
    How to fix: update the NVIDIA driver to at least the minimum NVIDIA lists for torch's CUDA, or install
    the torch build whose CUDA the driver supports (`--index-url https://download.pytorch.org/whl/cu118`...).
    """
    torch, gpu = facts.torch, facts.gpu
    assert torch.cuda is not None
    driver_cuda = gpu.driver_cuda
    if not driver_cuda and gpu.driver_version:
        driver_cuda = driver_cuda_for(gpu.driver_version, facts.os)
    if not driver_cuda:
        raise SkipCheck(_("the NVIDIA driver's version is unknown"))
    if version_tuple(driver_cuda)[:2] >= version_tuple(torch.cuda)[:2]:
        return
    driver = _("driver {version}").format(version=gpu.driver_version) if gpu.driver_version else _("the NVIDIA driver")
    native = min_driver(torch.cuda, facts.os)
    install = install_advice(facts, reinstall=True)
    if native:
        remedy = _("update the NVIDIA driver to {version} or newer, or install the torch build this driver runs:")
    else:
        remedy = _("update the NVIDIA driver, or install the torch build this driver runs:")
    remedy = remedy.format(version=native) + f"\n{install.command}"
    evidence: dict[str, Any] = {"torch_cuda": torch.cuda, "driver_cuda": driver_cuda, "driver": gpu.driver_version}
    if runs_by_minor_compat(torch.cuda, gpu.driver_version, facts.os):
        floor = minor_compat_driver(version_tuple(torch.cuda)[0], facts.os)
        yield cuda_driver_too_old.finding(
            # TRANSLATORS: {driver} is "driver 535.104.05" or "the NVIDIA driver".
            _(
                "torch {version} is built for CUDA {cuda} but {driver} supports CUDA {driver_cuda}; it runs through "
                "CUDA minor version compatibility (any driver from {floor}), but PTX JIT and Triton kernels can fail "
                "with “the provided PTX was compiled with an unsupported toolchain”."
            ).format(version=torch.version, cuda=torch.cuda, driver=driver, driver_cuda=driver_cuda, floor=floor),
            remedy=remedy,
            severity=Severity.WARNING,
            **evidence,
        )
        return
    yield cuda_driver_too_old.finding(
        _(
            "torch {version} needs CUDA {cuda} but {driver} supports only CUDA {driver_cuda}: CUDA fails with “The "
            "NVIDIA driver on your system is too old (found version {number})”."
        ).format(
            version=torch.version,
            cuda=torch.cuda,
            driver=driver,
            driver_cuda=driver_cuda,
            number=driver_error_number(driver_cuda),
        ),
        remedy=remedy,
        **evidence,
    )
