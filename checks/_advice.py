"""Remedies shared by checks and fixes: which torch to install here, and how to say it in this shell."""

from __future__ import annotations

from dataclasses import dataclass

from llamadoctor.facts import Facts
from llamadoctor.shell import comment, render_argv
from llamadoctor.torch_builds import (
    flavour_covers,
    flavour_cuda,
    install_argv,
    min_driver,
    recommended_flavour,
    version_tuple,
    wheel_flavours_for_driver,
)

NEWEST_CUDA = "99.9"  # every flavour in the table is at or below this


@dataclass(frozen=True)
class TorchInstall:
    command: str  # in the user's shell, with the target interpreter
    flavour: str | None  # "cu121", "cpu", or None for PyPI's default wheel
    note: str = ""  # why this build, or what must happen first
    shell: str = "bash"

    @property
    def remedy(self) -> str:
        """The reason as a comment line, then the command alone on its line: pasted together, both run."""
        return f"{comment(self.note, self.shell)}\n{self.command}" if self.note else self.command


def capabilities(facts: Facts) -> list[tuple[int, int]]:
    return [g.compute_capability for g in facts.gpu.gpus if g.compute_capability]


def driver_label(facts: Facts) -> str:
    """'driver 535.104.05 (CUDA 12.2)', or what we know of it."""
    gpu = facts.gpu
    version = f"driver {gpu.driver_version}" if gpu.driver_version else "the NVIDIA driver"
    return f"{version} (CUDA {gpu.driver_cuda})" if gpu.driver_cuda else version


def _cuda_flavour(facts: Facts) -> tuple[str, str]:
    gpu, caps = facts.gpu, capabilities(facts)
    flavour = recommended_flavour(gpu.driver_cuda, caps, driver_version=gpu.driver_version, os_name=facts.os)
    if flavour:
        return flavour, f"{flavour} is the newest PyTorch CUDA build {driver_label(facts)} runs"
    covering = [f for f in wheel_flavours_for_driver(NEWEST_CUDA) if flavour_covers(f, caps)] or ["cu128"]
    if not gpu.driver_cuda:
        return covering[0], "the NVIDIA driver's CUDA version is unknown: check it with nvidia-smi"
    # The smallest driver update that makes a build with kernels for these GPUs run.
    newest_first = [f for f in covering if version_tuple(flavour_cuda(f)) > version_tuple(gpu.driver_cuda)]
    target = newest_first[-1] if newest_first else covering[0]
    need = min_driver(flavour_cuda(target), facts.os)
    return target, (f"no PyTorch CUDA build for these GPUs runs on {driver_label(facts)}: update the NVIDIA "
                    f"driver to {need} or newer first (https://www.nvidia.com/Download/index.aspx)")


def install_advice(facts: Facts, *, reinstall: bool = False) -> TorchInstall:
    """The pip command that installs the right torch build for this machine, for the target interpreter."""
    flavour: str | None = None
    note = ""
    if facts.gpu.gpus:
        flavour, note = _cuda_flavour(facts)
    elif facts.os == "linux":
        flavour, note = "cpu", "no NVIDIA GPU here: the CPU build avoids gigabytes of unused CUDA libraries"
    argv = install_argv(facts.python.executable, flavour, reinstall=reinstall)
    shell = facts.platform.shell
    return TorchInstall(render_argv(argv, shell), flavour, note, shell)
