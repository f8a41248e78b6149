"""The GPU platform around torch: WSL's borrowed libcuda, NCCL between consumer cards, NCCL without a GPU."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from llamadoctor.checks._requires import META_CODE, NVIDIA_GPU, TORCH
from llamadoctor.checks._visible import visible_gpus
from llamadoctor.facts import Facts, HostLimits, Options
from llamadoctor.files import targets
from llamadoctor.i18n import N_, _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Requires, Severity
from llamadoctor.registry import check
from llamadoctor.shell import set_env, unset_env
from llamadoctor.testing import gpu, linux_cpu, linux_gpu, nvidia, replace_in, torch_info
from llamadoctor.testing_files import LLAMA2_13B, generation_source, meta_model, repo_with

WSL_LIB = "/usr/lib/wsl/lib"
WSL_DRIVER = HostLimits(wsl_libcuda=(f"{WSL_LIB}/libcuda.so", f"{WSL_LIB}/libcuda.so.1"))
STUB = "/usr/local/cuda/lib64/stubs"
LINUX_DRIVER = "/usr/lib/x86_64-linux-gnu/libcuda.so.1"
TWO_4090 = nvidia(gpu("NVIDIA GeForce RTX 4090"), gpu("NVIDIA GeForce RTX 4090", index=1))


def _wsl(other: tuple[str, ...] = (), ld_path: tuple[str, ...] = (), driver: bool = True) -> Facts:
    """Linux with a GPU under WSL: the Windows driver's libcuda, other libcuda files, LD_LIBRARY_PATH."""
    limits = HostLimits(
        wsl_libcuda=WSL_DRIVER.wsl_libcuda if driver else (), other_libcuda=other, ld_library_path=ld_path
    )
    return replace_in(linux_gpu(host_limits=limits), "platform", wsl=True)


WSL = Requires(lambda f: f.platform.wsl, N_("this is not WSL"))
WANTS_CUDA = Requires(
    lambda f: f.torch.cuda or f.gpu.gpus, N_("neither a CUDA build of torch nor an NVIDIA GPU"), probe="host_limits"
)


def shadowing(limits: HostLimits) -> list[str]:
    """The other libcuda files the loader finds before WSL's: those on LD_LIBRARY_PATH ahead of
    /usr/lib/wsl/lib, and a Linux driver's in the system folders unless LD_LIBRARY_PATH puts WSL's first."""
    order = [d.rstrip("/") for d in limits.ld_library_path]
    wsl_at = order.index(WSL_LIB) if WSL_LIB in order else None
    out = []
    for lib in limits.other_libcuda:
        folder = posixpath.dirname(lib)
        if folder in order:
            if wsl_at is None or order.index(folder) < wsl_at:
                out.append(lib)
        elif wsl_at is None:
            out.append(lib)
    return out


@check(
    id="wsl-libcuda-unusable",
    summary="WSL cannot use the Windows driver's libcuda: it is missing or another libcuda comes first",
    severity=Severity.ERROR,
    group=Group.GPU,
    platforms=("linux",),
    requires=(WSL, WANTS_CUDA),
    checked=lambda facts: _("libcuda in {folder}, and no other ahead of it").format(folder=WSL_LIB),
    examples=(
        Healthy(_wsl()),
        Inapplicable(linux_gpu(), expect="not WSL"),
        Inapplicable(replace_in(linux_cpu(), "platform", wsl=True), expect="neither a CUDA build"),
        Broken(_wsl(driver=False), expect="libcuda.so: cannot open shared object file"),
        Broken(_wsl(other=(LINUX_DRIVER,)), expect=LINUX_DRIVER),
        Healthy(_wsl(other=(LINUX_DRIVER,), ld_path=(WSL_LIB,))),
        Broken(_wsl(other=(f"{STUB}/libcuda.so",), ld_path=(STUB, WSL_LIB)), expect=f"{STUB}/libcuda.so"),
        Healthy(_wsl(other=(f"{STUB}/libcuda.so",), ld_path=(WSL_LIB, STUB))),
    ),
)
def wsl_libcuda_unusable(facts: Facts) -> Iterator[Finding]:
    """What it checks: under WSL, that the Windows NVIDIA driver's libcuda.so is in /usr/lib/wsl/lib, and
    that no other libcuda (a Linux NVIDIA driver installed in the distribution, or the CUDA toolkit's stub on
    LD_LIBRARY_PATH) is found before it.

    Why it matters: WSL's CUDA driver is Windows'. Without it torch and bitsandbytes stop with `OSError:
    libcuda.so: cannot open shared object file`; a Linux driver or a stub in its place gives `CUDA
    initialization: Unexpected error from cudaGetDeviceCount()` and breaks nvidia-smi.

    How to fix: install or update the NVIDIA driver in Windows (never inside WSL), then `wsl --shutdown`;
    remove a Linux driver package from the distribution, and put /usr/lib/wsl/lib first on LD_LIBRARY_PATH.
    """
    limits = facts.host_limits
    shell = facts.platform.shell
    if not limits.wsl_libcuda:
        yield wsl_libcuda_unusable.finding(
            _(
                "This is WSL, but {folder} has no libcuda.so: the Windows NVIDIA driver is missing or too old for "
                "WSL, so CUDA code fails with “libcuda.so: cannot open shared object file: No such file or "
                "directory”."
            ).format(folder=WSL_LIB),
            remedy=_(
                "install the current NVIDIA driver in Windows (not inside WSL), then run `wsl --shutdown` from "
                "Windows and open WSL again"
            ),
            wsl_lib=WSL_LIB,
        )
        return
    ahead = shadowing(limits)
    if ahead:
        path = ":".join([WSL_LIB, *(d for d in limits.ld_library_path if d.rstrip("/") != WSL_LIB)])
        yield wsl_libcuda_unusable.finding(
            _(
                "{files} is found before WSL's {folder}/libcuda.so: a Linux driver or the CUDA toolkit's stub, not "
                "the Windows driver's, so CUDA fails with “Unexpected error from cudaGetDeviceCount()” or cannot "
                "find a device."
            ).format(files=", ".join(ahead), folder=WSL_LIB),
            remedy=set_env("LD_LIBRARY_PATH", path, shell)
            + "\n"
            + _(
                "and remove any Linux NVIDIA driver package from the distribution (`dpkg -l | grep nvidia-driver` "
                "lists them)"
            ),
            shadowing=ahead,
            wsl_libcuda=list(limits.wsl_libcuda),
        )


def _consumer(name: str) -> bool:
    return "GeForce" in name or "TITAN" in name.upper()


def _processes(facts: Facts) -> int:
    if facts.options.nproc:
        return facts.options.nproc
    return max((len(m.meta_shards) for m in targets(facts.models) if m.format == "meta"), default=1)


MULTI_PROCESS = Requires(
    lambda f: _processes(f) > 1, N_("the run uses one process (pass --nproc, or a model with several shards)")
)


@check(
    id="nccl-p2p-consumer-gpus",
    summary="Several consumer GPUs and NCCL_P2P_DISABLE unset: NCCL may hang between them",
    severity=Severity.WARNING,
    group=Group.DISTRIBUTED,
    fixes=("set-distributed-env",),
    platforms=("linux",),
    requires=(NVIDIA_GPU, MULTI_PROCESS),
    checked=lambda facts: _("{gpus} visible GPU(s) for {processes} processes").format(
        gpus=len(visible_gpus(facts)), processes=_processes(facts)
    ),
    examples=(
        Healthy(linux_gpu(gpu=TWO_4090, options=Options(nproc=2), env={"NCCL_P2P_DISABLE": "1"})),
        Healthy(
            linux_gpu(
                gpu=nvidia(gpu("NVIDIA A100-SXM4-80GB", vram_gib=80), gpu("NVIDIA A100-SXM4-80GB", index=1)),
                options=Options(nproc=2),
            )
        ),
        Inapplicable(linux_gpu(gpu=TWO_4090), expect="one process"),
        Broken(linux_gpu(gpu=TWO_4090, options=Options(nproc=2)), expect="NCCL_P2P_DISABLE"),
        Broken(
            linux_gpu(gpu=TWO_4090, models=(meta_model(LLAMA2_13B, n_shards=2),)),
            expect="2 NVIDIA GeForce RTX 4090",
        ),
    ),
)
def nccl_p2p_consumer_gpus(facts: Facts) -> Iterator[Finding]:
    """What it checks: a run of several processes (--nproc, or a Meta model with several shards) over two or
    more GeForce or TITAN GPUs, with NCCL_P2P_DISABLE unset.

    Why it matters: consumer cards in most PCIe layouts lack working peer-to-peer access, yet NCCL tries it:
    the run hangs at the first all-reduce with no error, fails with `ncclUnhandledCudaError`, or silently
    copies wrong data between GPUs.

    How to fix: `export NCCL_P2P_DISABLE=1` before torchrun (NCCL then copies through host memory;
    `llamadoctor fix` prints it for your shell). Cards
    joined by an NVLink bridge (`nvidia-smi topo -m` shows NV#) do not need it.
    """
    if facts.env.get("NCCL_P2P_DISABLE", "0") not in ("", "0"):
        return
    cards = [g for g in visible_gpus(facts) if _consumer(g.name)]
    if len(cards) < 2:
        return
    names = sorted({g.name for g in cards})
    if len(names) == 1:
        # TRANSLATORS: a number of GPUs of one model, as in "2 NVIDIA GeForce RTX 4090".
        what = _("{count} {gpu}").format(count=len(cards), gpu=names[0])
    else:
        what = _("{count} consumer GPUs ({names})").format(count=len(cards), names=", ".join(names))
    yield nccl_p2p_consumer_gpus.finding(
        # TRANSLATORS: {gpus} is "2 NVIDIA GeForce RTX 4090" or "3 consumer GPUs (names)".
        _(
            "{processes} processes will talk over NCCL between {gpus}, and NCCL_P2P_DISABLE is not set: without "
            "peer-to-peer support NCCL hangs at the first all-reduce or fails with `ncclUnhandledCudaError`."
        ).format(processes=_processes(facts), gpus=what),
        remedy=set_env("NCCL_P2P_DISABLE", "1", facts.platform.shell)
        + "\n"
        + _("(skip it if the cards share an NVLink bridge: `nvidia-smi topo -m` shows NV#)"),
        gpus=[g.name for g in cards],
        unset=[],
        set={"NCCL_P2P_DISABLE": "1"},
    )


def _no_gpu_reason(facts: Facts) -> str | None:
    """Why torch would see no GPU, or None when it would see one."""
    if facts.torch.cuda_available is False:
        return _("torch.cuda.is_available() is False here")
    if not facts.gpu.gpus:
        return _("no NVIDIA GPU was found")
    if not visible_gpus(facts):
        raw = facts.env.get("CUDA_VISIBLE_DEVICES")
        return _("CUDA_VISIBLE_DEVICES={value} hides all {count} GPU(s)").format(
            value=repr(raw), count=len(facts.gpu.gpus)
        )
    return None


GPU_PROBE = Requires(lambda f: True, probe="gpu")
# Without NCCL in torch at all, the meta-code-hardcodes-nccl check speaks.
TORCH_NCCL = Requires(lambda f: f.torch.nccl, N_("torch has no NCCL"))
META_REPO = repo_with(sources=(generation_source(),))


@check(
    id="nccl-without-usable-gpu",
    summary="Meta's code asks for NCCL, but torch would see no GPU",
    severity=Severity.ERROR,
    group=Group.DISTRIBUTED,
    platforms=("linux",),
    requires=(META_CODE, TORCH, TORCH_NCCL, GPU_PROBE),
    checked=N_("a GPU for the NCCL backend Meta's code asks for"),
    examples=(
        Healthy(linux_gpu(repo=META_REPO)),
        Inapplicable(linux_gpu(), expect="no Meta reference code"),
        Inapplicable(linux_gpu(repo=META_REPO, torch=torch_info("2.3.1+cpu", nccl=False)), expect="no NCCL"),
        Broken(
            linux_gpu(repo=META_REPO, env={"CUDA_VISIBLE_DEVICES": ""}),
            expect="CUDA_VISIBLE_DEVICES='' hides all 1 GPU(s)",
        ),
        Broken(
            linux_cpu(repo=META_REPO, torch=torch_info("2.3.1", cuda="12.1")),
            expect="ProcessGroupNCCL is only supported with GPUs, no GPUs found!",
        ),
    ),
)
def nccl_without_usable_gpu(facts: Facts) -> Iterator[Finding]:
    """What it checks: Meta's reference code in --repo calls `init_process_group("nccl")`, torch has NCCL
    (a CUDA build on Linux), but torch would see no GPU: none found, CUDA_VISIBLE_DEVICES hides them all, or
    (with --deep) `torch.cuda.is_available()` is False.

    Why it matters: NCCL only runs on GPUs: `ProcessGroupNCCL is only supported with GPUs, no GPUs found!`
    (a RuntimeError or, in newer torch, a ValueError) before anything loads.

    How to fix: unset a CUDA_VISIBLE_DEVICES that hides the GPUs; without a GPU, Meta's code cannot run: use
    `llamadoctor run` on the CPU, llama.cpp or Ollama.
    """
    why = _no_gpu_reason(facts)
    if why is None:
        return
    for source in facts.repo.sources if facts.repo else ():
        if not source.nccl_lines or b'"gloo"' in source.content or b"'gloo'" in source.content:
            continue  # code that falls back to gloo without CUDA
        hidden = "CUDA_VISIBLE_DEVICES" in why
        remedy = (
            unset_env("CUDA_VISIBLE_DEVICES", facts.platform.shell)
            if hidden
            else _("Meta's code needs a CUDA GPU: run the model on the CPU with `llamadoctor run`, llama.cpp or Ollama")
        )
        lines = ", ".join(str(n) for n in source.nccl_lines)
        yield nccl_without_usable_gpu.finding(
            # TRANSLATORS: {why} says why torch sees no GPU.
            _(
                '{path} line {lines} calls init_process_group("nccl"), and torch {version} has NCCL, but {why}: it '
                "stops with “ProcessGroupNCCL is only supported with GPUs, no GPUs found!”."
            ).format(path=source.path, lines=lines, version=facts.torch.version, why=why),
            remedy=remedy,
            path=source.path,
            reason=why,
        )
