"""Host memory while loading, beyond the fit in VRAM: Meta's loader reads whole shards into RAM first, and
Windows must commit what it maps against RAM plus its paging file."""

from __future__ import annotations

import math
from collections.abc import Iterator

from llamadoctor.checks._requires import MEMORY, META_TARGET, TARGET_MODEL
from llamadoctor.checks.memory_fit import device_of
from llamadoctor.estimate import gib
from llamadoctor.facts import Facts, HostLimits, Memory
from llamadoctor.files import ModelDir, targets
from llamadoctor.i18n import N_, _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Requires, Severity
from llamadoctor.registry import check
from llamadoctor.testing import GiB, linux_cpu, linux_gpu, replace_in, windows_conda
from llamadoctor.testing_files import LLAMA2_13B, hf_model, meta_model

# Python, torch and the CUDA runtime's host allocations, per process, beside the shard itself.
PROCESS_OVERHEAD = GiB
CUDA_RUN = Requires(
    lambda f: device_of(f) == "cuda", N_("the run would not use an NVIDIA GPU (the model-fit check weighs RAM then)")
)
WSL_12G = HostLimits(wslconfig="/mnt/c/Users/ada/.wslconfig", wsl_memory=12 * GiB)


def load_peak(model: ModelDir) -> tuple[int, str]:
    """Host bytes at the peak of loading, and how they come about.

    Meta's code starts one process per shard and each `torch.load`s its whole shard into RAM at once; a Hugging
    Face loader maps one weights file at a time.
    """
    if model.format == "meta" and model.meta_shards:
        shards = model.meta_shards
        total = sum(s.size for s in shards) + len(shards) * PROCESS_OVERHEAD
        if len(shards) == 1:
            return total, _("its shard of {size} is read whole into RAM").format(size=gib(shards[0].size))
        return total, _("its {count} processes each read their shard whole into RAM at once").format(count=len(shards))
    largest = max((s.size for s in model.shards), default=0)
    return largest + PROCESS_OVERHEAD, _("its largest weights file, {size}, is mapped whole").format(size=gib(largest))


def wsl_note(facts: Facts) -> str:
    limits = facts.host_limits
    if not facts.platform.wsl:
        return ""
    if limits.wsl_memory is not None:
        return _(" WSL caps this Linux at memory={size} ({path}).").format(
            size=gib(limits.wsl_memory), path=limits.wslconfig
        )
    return _(" WSL gives this Linux half of Windows' RAM unless .wslconfig sets memory=.")


def _remedy(facts: Facts, needed: int) -> str:
    short = max(1, math.ceil((needed - facts.memory.ram_available) / GiB))
    lines = []
    if facts.platform.wsl:
        where = facts.host_limits.wslconfig or r"%UserProfile%\.wslconfig"
        total = math.ceil((facts.memory.ram_total + short * GiB) / GiB)
        lines.append(
            _("raise WSL's memory: in {path} put `[wsl2]` and `memory={total}GB`, then `wsl --shutdown`").format(
                path=where, total=total
            )
        )
    swapfile = (
        f"sudo fallocate -l {short}G /swapfile && sudo chmod 600 /swapfile && sudo mkswap /swapfile && "
        "sudo swapon /swapfile"
    )
    lines.append(_("or add {size} GiB of swap: {command}").format(size=short, command=swapfile))
    lines.append(_("or close other programs, or run `llamadoctor run`, which memory-maps the shards"))
    return "\n".join(lines)


@check(
    id="host-ram-too-small-for-load",
    summary="Loading the model on the GPU needs more host RAM than there is",
    severity=Severity.ERROR,
    group=Group.MODEL,
    platforms=("linux",),
    requires=(META_TARGET, CUDA_RUN, MEMORY),
    checked=lambda facts: _("{ram} RAM available against the shards of the model folders").format(
        ram=gib(facts.memory.ram_available)
    ),
    examples=(
        Healthy(linux_gpu(models=(meta_model(),))),
        Inapplicable(linux_cpu(models=(meta_model(),)), expect="would not use an NVIDIA GPU"),
        Inapplicable(linux_gpu(models=(hf_model(),)), expect="no Meta-format model folder"),
        Broken(linux_gpu(models=(meta_model(),), memory=Memory(16 * GiB, 9 * GiB, 2 * GiB)), expect="exitcode: -9"),
        Broken(
            linux_gpu(models=(meta_model(),), memory=Memory(16 * GiB, 9 * GiB, 8 * GiB)),
            expect="fits only by swapping",
        ),
        Broken(
            replace_in(
                linux_gpu(models=(meta_model(),), memory=Memory(12 * GiB, 11 * GiB), host_limits=WSL_12G),
                "platform",
                wsl=True,
            ),
            expect="memory=12.00 GiB (/mnt/c/Users/ada/.wslconfig)",
        ),
        Broken(
            linux_gpu(models=(meta_model(LLAMA2_13B, n_shards=2),), memory=Memory(32 * GiB, 24 * GiB)),
            expect="its 2 processes each read their shard",
        ),
    ),
)
def host_ram_too_small_for_load(facts: Facts) -> Iterator[Finding]:
    """What it checks: for a Meta-format model run on NVIDIA GPUs, the RAM available now plus swap against
    the shards Meta's loader holds in RAM at once (each process reads its whole shard, 13 GB for a 7B model,
    before moving it to its GPU) plus about 1 GiB per process. On WSL it names the memory cap of .wslconfig.

    Why it matters: VRAM is enough, yet the kernel's OOM killer ends the load without a Python error:
    `failed (exitcode: -9) local_rank: 0` or `Signal 9 (SIGKILL) received`. WSL's default cap (half of
    Windows' RAM) makes this common there.

    How to fix: raise WSL's `memory=` in .wslconfig (then `wsl --shutdown`), add swap, close other programs,
    or load with something that memory-maps the weights (`llamadoctor run`, or the Hugging Face format).
    """
    memory = facts.memory
    for model in targets(facts.models):
        if model.format != "meta" or not model.meta_shards:
            continue
        needed, how = load_peak(model)
        if needed <= memory.ram_available:
            continue
        if memory.swap_total:
            have = _("{ram} of RAM is available and {swap} of swap").format(
                ram=gib(memory.ram_available), swap=gib(memory.swap_total)
            )
        else:
            have = _("{ram} of RAM is available and no swap").format(ram=gib(memory.ram_available))
        if needed <= memory.ram_available + memory.swap_total:
            verdict, severity = _("it fits only by swapping, so loading will be very slow"), Severity.WARNING
        else:
            verdict = _("the kernel kills the load: `failed (exitcode: -9)`")
            severity = Severity.ERROR
        yield host_ram_too_small_for_load.finding(
            # TRANSLATORS: {how} says how loading holds the weights; {have} the RAM and swap there are;
            # {verdict} what happens then; {wsl} is empty or a sentence about WSL's memory cap.
            _(
                "Loading {path} on the GPU needs about {needed} of host RAM ({how} before it moves to the GPU), "
                "but {have}: {verdict}.{wsl}"
            ).format(path=model.path, needed=gib(needed), how=how, have=have, verdict=verdict, wsl=wsl_note(facts)),
            remedy=_remedy(facts, needed),
            severity=severity,
            path=model.path,
            needed=needed,
            ram_available=memory.ram_available,
            swap_total=memory.swap_total,
            wsl_memory=facts.host_limits.wsl_memory,
        )


def _pagefile_remedy(needed: int, memory: Memory) -> str:
    size_mb = math.ceil(max(needed - memory.ram_available, memory.ram_total // 2) / 2**20 / 1024) * 1024
    # TRANSLATORS: the names of Windows' dialogs and settings are those of its English interface.
    return _(
        "enlarge the paging file: System Properties > Advanced > Performance Settings > Advanced > Virtual "
        "memory > Change: 'Automatically manage' or a custom size of at least {size} MB on a drive with "
        "space, then restart Windows\n(see it now: {command})"
    ).format(size=size_mb, command="Get-CimInstance Win32_PageFileUsage | Select-Object Name, AllocatedBaseSize")


NO_PAGEFILE = Memory(16 * GiB, 12 * GiB, 0)


@check(
    id="pagefile-too-small",
    summary="Windows cannot commit the memory loading the model needs: RAM plus the paging file is too small",
    severity=Severity.ERROR,
    group=Group.MODEL,
    platforms=("windows",),
    requires=(TARGET_MODEL, MEMORY),
    checked=lambda facts: _("{ram} RAM available and a paging file of {pagefile}").format(
        ram=gib(facts.memory.ram_available), pagefile=gib(facts.memory.swap_total)
    ),
    examples=(
        Healthy(windows_conda(models=(meta_model(),))),
        Inapplicable(windows_conda(), expect="no model folder"),
        Broken(windows_conda(models=(meta_model(),), memory=NO_PAGEFILE), expect="os error 1455"),
        Broken(windows_conda(models=(meta_model(),), memory=NO_PAGEFILE), expect="paging file of 0.00 GiB"),
        Broken(
            windows_conda(models=(hf_model(),), memory=Memory(16 * GiB, 6 * GiB, GiB)),
            expect="largest weights file",
        ),
    ),
)
def pagefile_too_small(facts: Facts) -> Iterator[Finding]:
    """What it checks: on Windows, the memory loading a model folder commits (Meta's shards read whole, one
    per process; a Hugging Face weights file mapped whole) against the RAM available plus the paging file,
    the sum Windows commits memory against (psutil reports the paging file as swap).

    Why it matters: past that limit Windows refuses the mapping or even torch's DLLs: `OSError: The paging
    file is too small for this operation to complete. (os error 1455)` or `[WinError 1455]`, with RAM to
    spare on paper.

    How to fix: let Windows manage the paging file, or set one of at least the size the message gives on a
    drive with space, and restart; close other programs.
    """
    memory = facts.memory
    for model in targets(facts.models):
        if not model.shards:
            continue
        needed, how = load_peak(model)
        if needed <= memory.ram_available + memory.swap_total:
            continue
        yield pagefile_too_small.finding(
            _(
                "Loading {path} commits about {needed} ({how}), but Windows has {ram} of RAM available and a "
                "paging file of {pagefile}: the load fails with “The paging file is too small for this operation "
                "to complete. (os error 1455)”."
            ).format(
                path=model.path,
                needed=gib(needed),
                how=how,
                ram=gib(memory.ram_available),
                pagefile=gib(memory.swap_total),
            ),
            remedy=_pagefile_remedy(needed, memory),
            path=model.path,
            needed=needed,
            ram_available=memory.ram_available,
            pagefile=memory.swap_total,
        )
