"""Python packages of the serving and download stacks: vLLM where it cannot run, and Meta's llama-models
command missing its own module."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.checks._libraries import pip_install
from llamadoctor.facts import Facts
from llamadoctor.i18n import N_, _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Requires, Severity
from llamadoctor.registry import check
from llamadoctor.testing import linux_cpu, linux_gpu, mac_arm, replace_in, windows_conda

VLLM = Requires(lambda f: "vllm" in f.stacks.packages, N_("vLLM is not installed"), probe="stacks")
LLAMA_MODELS = Requires(
    lambda f: "llama_models" in f.stacks.packages, N_("llama-models is not installed"), probe="stacks"
)


def _packages(facts: Facts, **versions: str) -> Facts:
    return replace_in(facts, "stacks", packages=versions)


@check(
    id="vllm-native-platform",
    summary="The vLLM installed runs on Linux only, not on native Windows or on macOS GPUs",
    severity=Severity.ERROR,
    group=Group.PYTHON,
    requires=(VLLM,),
    checked=lambda f: (_("vLLM {version} on Linux (WSL)") if f.platform.wsl else _("vLLM {version} on Linux")).format(
        version=f.stacks.packages.get("vllm")
    ),
    examples=[
        Healthy(_packages(linux_gpu(), vllm="0.6.3")),
        Healthy(replace_in(_packages(linux_gpu(), vllm="0.6.3"), "platform", wsl=True)),
        Inapplicable(windows_conda(), expect="vLLM is not installed"),
        Broken(_packages(windows_conda(), vllm="0.6.3"), expect="vLLM only supports Linux platform"),
        Broken(_packages(windows_conda(), vllm="0.6.3"), expect="on native Windows"),
        Broken(_packages(mac_arm(), vllm="0.6.3"), expect="CPU"),
    ],
)
def vllm_native_platform(facts: Facts) -> Iterator[Finding]:
    """vLLM installed in a Python on native Windows or macOS.

    What it checks: a vllm distribution in the target Python's site-packages while the OS is Windows (not
    WSL) or macOS.
    Why it matters: vLLM's GPU server is built for Linux only: on Windows its kernels are missing (`No module
    named 'vllm._C'`, `vLLM only supports Linux platform (including WSL)`); on macOS it runs on the CPU at
    best, without the Apple GPU.
    How to fix: on Windows run vLLM inside WSL2; on a Mac serve Llama with llama.cpp, Ollama or transformers
    (MPS) instead.
    """
    version = facts.stacks.packages["vllm"]
    if facts.os == "linux":
        return
    if facts.os == "windows":
        yield vllm_native_platform.finding(
            _(
                "vLLM {version} is installed in {python} on native Windows, where it cannot serve: it stops with "
                "“vLLM only supports Linux platform (including WSL)” or “No module named 'vllm._C'”."
            ).format(version=version, python=facts.python.executable),
            remedy=_("Run vLLM inside WSL2 instead:") + "\nwsl --install\nwsl python3 -m pip install vllm",
            vllm=version,
        )
        return
    yield vllm_native_platform.finding(
        _(
            "vLLM {version} is installed on macOS, where it runs on the CPU only (no CUDA, no Apple GPU): a Llama "
            "model serves far slower than with llama.cpp or Ollama, which use the Apple GPU through Metal."
        ).format(version=version),
        remedy=_(
            "Serve Llama with Ollama or llama.cpp on this Mac, or run vLLM on a Linux machine with an NVIDIA GPU."
        ),
        severity=Severity.WARNING,
        vllm=version,
    )


@check(
    id="llama-cli-broken",
    summary="Meta's llama-models command imports a module its package does not install",
    severity=Severity.ERROR,
    group=Group.DOWNLOAD,
    requires=(LLAMA_MODELS,),
    checked=lambda f: _("the command modules of llama-models {version} are installed").format(
        version=f.stacks.packages.get("llama_models")
    ),
    examples=[
        Healthy(_packages(linux_cpu(), llama_models="0.2.0")),
        Inapplicable(linux_cpu(), expect="llama-models is not installed"),
        Broken(
            replace_in(
                _packages(linux_cpu(), llama_models="0.3.0"), "stacks", llama_cli_missing=("llama_models.cli.model",)
            ),
            expect="No module named 'llama_models.cli.model'",
        ),
    ],
)
def llama_cli_broken(facts: Facts) -> Iterator[Finding]:
    """The `llama-model` / `llama` download command of llama-models fails before it starts.

    What it checks: the console scripts llama-models declares (its entry_points.txt) against the modules
    installed in site-packages, without running them.
    Why it matters: llama-models 0.3.0 shipped a command whose module is missing: `llama download` stops
    with `No module named 'llama_models.cli.model'`.
    How to fix: install the command that llama-stack ships, pin an earlier llama-models, or download from
    Hugging Face, whose `original/` folder holds Meta's files.
    """
    missing = facts.stacks.llama_cli_missing
    if not missing:
        return
    version = facts.stacks.packages["llama_models"]
    yield llama_cli_broken.finding(
        _(
            "llama-models {version} declares a command in {modules}, which is not installed: the command stops "
            "with “No module named '{module}'”."
        ).format(version=version, modules=", ".join(missing), module=missing[0]),
        remedy="\n".join(
            (
                pip_install(facts, "llama-stack"),
                _("or download from Hugging Face instead:")
                + ' huggingface-cli download meta-llama/<repo> --include "original/*"',
            )
        ),
        llama_models=version,
        missing=missing,
    )
