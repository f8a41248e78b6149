"""bitsandbytes (8-bit and 4-bit loading with transformers) installed without a GPU library this machine can
load: it falls back to its CPU build, read from the library files the package ships."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

from llamadoctor.checks._libraries import LIBRARIES, installed, libraries, library, older, pip_install
from llamadoctor.checks._requires import NVIDIA_GPU
from llamadoctor.facts import Facts
from llamadoctor.i18n import N_, _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Requires, Severity
from llamadoctor.registry import check
from llamadoctor.testing import linux_cpu, linux_gpu, torch_info, windows_conda

_CUDA_LIBRARY = re.compile(r"^libbitsandbytes_cuda(\d+)")
# The library suffix each OS loads: a Windows wheel carrying only Linux .so files has nothing to load there
_SUFFIX = {"windows": ".dll", "darwin": ".dylib", "linux": ".so"}
_OS = {"windows": "Windows", "darwin": "macOS", "linux": "Linux"}


def _shipped(facts: Facts) -> tuple[str, ...]:
    return facts.libraries.native.get("bitsandbytes", ()) if facts.libraries else ()


def _cuda_builds(facts: Facts) -> dict[str, str]:
    """CUDA version digits ("121") -> file, of the libraries this OS can load."""
    suffix = _SUFFIX.get(facts.os, ".so")
    builds: dict[str, str] = {}
    for name in _shipped(facts):
        found = _CUDA_LIBRARY.match(name)
        if found and name.endswith(suffix):
            builds.setdefault(found.group(1), name)
    return builds


# From this release bitsandbytes picks its library by torch's CUDA version (or BNB_CUDA_VERSION); earlier
# ones searched for a CUDA runtime on the library path, which the facts do not show.
PICKS_BY_TORCH = "0.43.0"


def _wanted_build(facts: Facts) -> str:
    """The CUDA digits of the library bitsandbytes will look for ("121"), or "" when not judged."""
    if older(installed(facts, "bitsandbytes"), PICKS_BY_TORCH):
        return ""
    override = facts.env.get("BNB_CUDA_VERSION", "")
    return override if override.isdigit() else (facts.torch.cuda or "").replace(".", "")


def _asked(facts: Facts) -> str:
    override = facts.env.get("BNB_CUDA_VERSION", "")
    if override.isdigit():
        return _("BNB_CUDA_VERSION={value} asks for CUDA {value}").format(value=override)
    return _("torch {version} runs CUDA {cuda}").format(version=facts.torch.version, cuda=facts.torch.cuda)


FILES_READ = Requires(_shipped, N_("no native library found in bitsandbytes' package folder"))
BNB_LINUX = ("libbitsandbytes_cpu.so", "libbitsandbytes_cuda118.so", "libbitsandbytes_cuda121.so")
BNB_OLD_WINDOWS = ("libbitsandbytes_cpu.so", "libbitsandbytes_cuda116.so")  # pip's wheel before Windows builds
BNB_WINDOWS = ("libbitsandbytes_cpu.dll", "libbitsandbytes_cuda121.dll", "libbitsandbytes_cuda124.dll")


def _bnb(base: Facts, version: str, files: tuple[str, ...]) -> Facts:
    libs = libraries({"bitsandbytes": version}, native={"bitsandbytes": files})
    return dataclasses.replace(base, libraries=libs)


@check(
    id="bnb-cpu-only",
    summary="The installed bitsandbytes has no GPU library for this machine: 8-bit and 4-bit loads fail",
    severity=Severity.WARNING,
    group=Group.PYTHON,
    requires=(LIBRARIES, library("bitsandbytes"), NVIDIA_GPU, FILES_READ),
    checked=lambda facts: _("bitsandbytes {version}'s libraries ({files}) against torch's CUDA {cuda}").format(
        version=installed(facts, "bitsandbytes"), files=", ".join(_shipped(facts)), cuda=facts.torch.cuda or "(none)"
    ),
    examples=(
        Healthy(_bnb(linux_gpu(), "0.43.1", BNB_LINUX)),
        Healthy(_bnb(windows_conda(torch=torch_info("2.3.1", cuda="12.1", nccl=False)), "0.43.1", BNB_WINDOWS)),
        Inapplicable(_bnb(linux_cpu(), "0.43.1", ("libbitsandbytes_cpu.so",)), expect="no NVIDIA GPU"),
        Inapplicable(linux_gpu(libraries=libraries()), expect="bitsandbytes is not installed"),
        Broken(_bnb(windows_conda(), "0.41.1", BNB_OLD_WINDOWS), expect="compiled without GPU support"),
        Broken(_bnb(linux_gpu(), "0.43.1", ("libbitsandbytes_cpu.so",)), expect="has no CUDA library Linux can load"),
        Broken(
            _bnb(linux_gpu(torch=torch_info("2.5.1", cuda="12.4")), "0.43.1", BNB_LINUX),
            expect="Could not find the bitsandbytes CUDA binary at …libbitsandbytes_cuda124.so",
        ),
        Healthy(_bnb(linux_gpu(torch=torch_info("2.5.1", cuda="12.4")), "0.41.1", BNB_LINUX)),
        Broken(
            _bnb(linux_gpu(env={"BNB_CUDA_VERSION": "122"}), "0.43.1", BNB_LINUX),
            expect="BNB_CUDA_VERSION=122 asks for CUDA 122",
        ),
    ),
)
def bnb_cpu_only(facts: Facts) -> Iterator[Finding]:
    """What it checks: the native libraries in the installed bitsandbytes package (its files, never
    imported) on a machine with an NVIDIA GPU: a CUDA library this OS can load (a .dll on Windows; the pip
    wheels before 0.43 carried only Linux .so files), and one built for the CUDA version of the installed
    torch, which is how bitsandbytes picks its library from 0.43 (BNB_CUDA_VERSION overrides it).

    Why it matters: without one, bitsandbytes loads its CPU library: “The installed version of bitsandbytes
    was compiled without GPU support”, then `function 'cadam32bit_grad_fp32' not found` or “CUDA Setup
    failed despite GPU being available” as soon as a model is loaded in 8 or 4 bits; with the wrong CUDA
    version, “Could not find the bitsandbytes CUDA binary at …/libbitsandbytes_cuda124.so” first.

    How to fix: upgrade bitsandbytes with the target interpreter's pip (releases from 0.43 ship CUDA builds
    for Windows and Linux); `python -m bitsandbytes` shows which library it loads. A GGUF quantization with
    llama.cpp or Ollama avoids bitsandbytes altogether.
    """
    version = installed(facts, "bitsandbytes")
    builds = _cuda_builds(facts)
    remedy = pip_install(facts, "bitsandbytes>=0.43")
    where = {"version": version, "python": facts.python.executable}
    if not builds:
        yield bnb_cpu_only.finding(
            _(
                "bitsandbytes {version} in {python} has no CUDA library {os} can load ({files}): loading a model in "
                "8 or 4 bits warns “The installed version of bitsandbytes was compiled without GPU support” and "
                "then fails (“function 'cadam32bit_grad_fp32' not found”)."
            ).format(**where, os=_OS.get(facts.os, facts.os), files=", ".join(_shipped(facts))),
            remedy=remedy,
            bitsandbytes=version,
            libraries=list(_shipped(facts)),
        )
        return
    wanted = _wanted_build(facts)
    if wanted and wanted not in builds:
        missing = f"libbitsandbytes_cuda{wanted}{_SUFFIX.get(facts.os, '.so')}"
        yield bnb_cpu_only.finding(
            # TRANSLATORS: {asked} says which CUDA is wanted ("torch 2.5.1 runs CUDA 12.4").
            _(
                "bitsandbytes {version} in {python} has CUDA libraries for CUDA {builds} but {asked}: bitsandbytes "
                "warns “Could not find the bitsandbytes CUDA binary at …{missing}” and loads its CPU library, so "
                "8-bit and 4-bit loads fail."
            ).format(**where, builds=", ".join(sorted(builds)), asked=_asked(facts), missing=missing),
            remedy=remedy,
            bitsandbytes=version,
            libraries=list(_shipped(facts)),
            torch_cuda=facts.torch.cuda,
        )
