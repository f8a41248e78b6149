"""GPUs torch has no kernels for (too new, like Blackwell on cu124; or too old, like Pascal on cu128)."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.advice import install_advice
from llamadoctor.checks._requires import CUDA_TORCH, NVIDIA_GPU
from llamadoctor.facts import Facts, GpuInfo
from llamadoctor.i18n import _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Severity, SkipCheck
from llamadoctor.registry import check
from llamadoctor.testing import gpu, linux_gpu, nvidia, replace_in, torch_info, windows_conda
from llamadoctor.torch_builds import arch_name, runs_on

RTX_5090 = nvidia(gpu("NVIDIA GeForce RTX 5090", vram_gib=32, cc=(12, 0)), driver="570.124.04", driver_cuda="12.8")
GTX_1080 = nvidia(gpu("NVIDIA GeForce GTX 1080", vram_gib=8, cc=(6, 1)), driver="570.124.04", driver_cuda="12.8")
CU128_28 = ("sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120")


@check(
    id="gpu-arch-unsupported",
    summary="torch has no kernels for this GPU's compute capability",
    severity=Severity.ERROR,
    group=Group.GPU,
    platforms=("linux", "windows"),
    fixes=("reinstall-torch-cuda",),
    requires=(CUDA_TORCH, NVIDIA_GPU),
    checked=lambda facts: _("{count} GPU(s) against torch's kernels ({arch_list})").format(
        count=len(facts.gpu.gpus), arch_list=" ".join(facts.torch.arch_list)
    ),
    examples=[
        Healthy(linux_gpu()),
        Healthy(windows_conda()),  # sm_89 runs sm_86 kernels
        Inapplicable(linux_gpu(gpu=GpuInfo()), expect="no NVIDIA GPU found"),
        Healthy(linux_gpu(gpu=RTX_5090, torch=torch_info("2.7.1", cuda="12.8", arch_list=CU128_28))),
        Broken(linux_gpu(gpu=RTX_5090), expect="compute capability 12.0 (sm_120)"),
        Broken(
            linux_gpu(gpu=GTX_1080, torch=torch_info("2.8.0", cuda="12.8", arch_list=CU128_28)),
            expect="NVIDIA GeForce GTX 1080",
        ),
        Broken(replace_in(windows_conda(gpu=RTX_5090), "torch", arch_list_source="torch"), expect="read from torch"),
    ],
)
def gpu_arch_unsupported(facts: Facts) -> Iterator[Finding]:
    """A GPU's compute capability is not covered by the architectures torch was compiled for.

    What it checks: each NVIDIA GPU's compute capability against torch's arch list
    (`torch.cuda.get_arch_list()` with `--deep`, else PyTorch's published list for that wheel,
    llamadoctor/data/torch_arch_lists.json). A GPU runs SASS built for its own major version and an equal or
    lower minor (sm_80 kernels run on 8.6 and 8.9, never on 9.0 or 12.0), or PTX (`compute_XY`) of an equal or
    lower capability, JIT-compiled by the driver.
    Why it matters: the first kernel fails with `CUDA error: no kernel image is available for execution on the
    device`. New GPUs need new builds (RTX 50xx, sm_120, needs cu128 or newer); old ones get dropped (Maxwell
    and Pascal are gone from cu128+, Volta from cu130).
    How to fix: install a torch build that includes the GPU's architecture: cu128+ for Blackwell, cu126 for
    Maxwell/Pascal; update the driver if it does not support that build's CUDA.
    """
    torch = facts.torch
    if not torch.arch_list:
        raise SkipCheck(_("the architectures of torch {version} are unknown").format(version=torch.version))
    source = _("read from torch") if torch.arch_list_source == "torch" else _("from PyTorch's build table")
    for device in facts.gpu.gpus:
        cc = device.compute_capability
        if cc is None or runs_on(torch.arch_list, cc):
            continue
        advice = install_advice(facts, reinstall=True)
        yield gpu_arch_unsupported.finding(
            # TRANSLATORS: {source} says where the list of kernels comes from ("read from torch").
            _(
                "GPU {index}, {gpu}, has compute capability {capability} ({arch}), but torch {version} has kernels "
                "only for {arch_list} ({source}): CUDA code fails with “no kernel image is available for execution "
                "on the device”."
            ).format(
                index=device.index,
                gpu=device.name,
                capability=f"{cc[0]}.{cc[1]}",
                arch=arch_name(cc),
                version=torch.version,
                arch_list=" ".join(torch.arch_list),
                source=source,
            ),
            remedy=advice.remedy,
            gpu=device.name,
            capability=f"{cc[0]}.{cc[1]}",
            arch_list=list(torch.arch_list),
            arch_list_source=torch.arch_list_source or "build table",
        )
