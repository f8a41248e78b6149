"""Building llama.cpp or llama-cpp-python with CUDA on Windows: Visual Studio without CUDA's build files."""

from __future__ import annotations

import re
from collections.abc import Iterator

from llamadoctor.checks._requires import NVIDIA_GPU
from llamadoctor.facts import Facts
from llamadoctor.i18n import N_, _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Requires, Severity
from llamadoctor.registry import check
from llamadoctor.shell import flavour, quote, render_argv
from llamadoctor.testing import linux_gpu, replace_in, windows_conda

CUDA_TOOLKIT = Requires(
    lambda f: f.stacks.cuda_path, N_("no CUDA toolkit installed (CUDA_PATH is not set)"), probe="stacks"
)
VISUAL_STUDIO = Requires(lambda f: f.stacks.vs_cuda_props, N_("no Visual Studio C++ build tools found"), probe="stacks")
CUDA = r"C:\Program Files\NVIDIA GPU Computing Toolkit\CUDA\v12.4"
VS = r"C:\Program Files\Microsoft Visual Studio\2022\BuildTools\MSBuild\Microsoft\VC\v170\BuildCustomizations"
PROPS = ("CUDA 12.4.props",)
WHEELS = "https://abetlen.github.io/llama-cpp-python/whl/"


def _windows(props: tuple[str, ...] = PROPS, cuda: str | None = CUDA) -> Facts:
    return replace_in(windows_conda(), "stacks", cuda_path=cuda, vs_cuda_props={VS: props})


@check(
    id="llamacpp-cuda-toolset-missing",
    summary="Visual Studio lacks CUDA's build files, so a CUDA build of llama.cpp fails",
    severity=Severity.WARNING,
    group=Group.GPU,
    platforms=("windows",),
    requires=(NVIDIA_GPU, CUDA_TOOLKIT, VISUAL_STUDIO),
    checked=lambda f: _("CUDA's MSBuild files in {count} Visual Studio toolset folder(s)").format(
        count=len(f.stacks.vs_cuda_props)
    ),
    examples=[
        Healthy(_windows()),
        Inapplicable(linux_gpu(), expect="only on Windows"),
        Inapplicable(_windows(cuda=None), expect="CUDA_PATH is not set"),
        Inapplicable(windows_conda(), expect="CUDA_PATH is not set"),
        Broken(_windows(props=()), expect="No CUDA toolset found."),
        Broken(_windows(props=()), expect="BuildTools"),
    ],
)
def llamacpp_cuda_toolset_missing(facts: Facts) -> Iterator[Finding]:
    """CUDA is installed, but Visual Studio has none of CUDA's MSBuild files (CUDA installed before VS).

    What it checks: the `BuildCustomizations` folders of each Visual Studio installation under Program
    Files for CUDA's `CUDA <version>.props`, when CUDA_PATH names a toolkit and an NVIDIA GPU is present.
    Why it matters: building llama.cpp or `pip install llama-cpp-python` with `-DGGML_CUDA=on` stops in CMake
    with `No CUDA toolset found.`, even after it printed `CUDA Toolkit found`.
    How to fix: copy the files from the toolkit's `extras\\visual_studio_integration\\MSBuildExtensions`
    into the folder (as administrator), reinstall CUDA with its Visual Studio integration, or install a
    prebuilt CUDA wheel of llama-cpp-python.
    """
    empty = [folder for folder, props in sorted(facts.stacks.vs_cuda_props.items()) if not props]
    if len(empty) < len(facts.stacks.vs_cuda_props):
        return  # one toolset can build CUDA: CMake finds it
    cuda = facts.stacks.cuda_path or ""
    source = cuda.rstrip("\\") + r"\extras\visual_studio_integration\MSBuildExtensions"
    yield llamacpp_cuda_toolset_missing.finding(
        _(
            "CUDA is installed ({cuda}) but Visual Studio has none of its build files in {folders}: a CUDA build of "
            "llama.cpp or llama-cpp-python stops with “No CUDA toolset found.”"
        ).format(cuda=cuda, folders=", ".join(empty)),
        remedy="\n".join(
            (
                _(
                    "As administrator, copy CUDA's Visual Studio files (or reinstall CUDA with Visual Studio "
                    "Integration):"
                ),
                _copy(source, empty[-1], facts.platform.shell),
                _("or skip the build with a prebuilt CUDA wheel:"),
                render_argv(
                    [
                        facts.python.executable,
                        "-m",
                        "pip",
                        "install",
                        "llama-cpp-python",
                        "--extra-index-url",
                        _wheels(cuda),
                    ],
                    facts.platform.shell,
                ),
            )
        ),
        cuda_path=cuda,
        folders=empty,
    )


def _wheels(cuda_path: str) -> str:
    """The prebuilt wheels' index for the toolkit's version: ...\\CUDA\\v12.4 -> .../whl/cu124."""
    match = re.search(r"v(\d+)\.(\d+)\W*$", cuda_path)
    return WHEELS + (f"cu{match[1]}{match[2]}" if match else "cu121")


def _copy(source: str, target: str, shell: str) -> str:
    kind = flavour(shell)
    if kind == "powershell":
        return f"Copy-Item {quote(source + chr(92) + '*', shell)} {quote(target, shell)}"
    if kind == "cmd":
        return f"copy {quote(source + chr(92) + '*', shell)} {quote(target, shell)}"
    return f"cp {quote(source, shell)}/* {quote(target, shell)}"
