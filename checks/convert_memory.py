"""Converting a Meta checkpoint to Hugging Face format: transformers' converter holds the whole model in RAM,
ours streams it one tensor at a time."""

from __future__ import annotations

import math
from collections.abc import Iterator

from llamadoctor.checks._requires import MEMORY, META_TARGET
from llamadoctor.checks.host_memory import PROCESS_OVERHEAD, WSL_12G, wsl_note
from llamadoctor.estimate import gib
from llamadoctor.facts import Facts, Memory
from llamadoctor.files import ModelDir, hf_copy_path, targets
from llamadoctor.i18n import _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Severity
from llamadoctor.model_info import arch_of
from llamadoctor.registry import check
from llamadoctor.shell import render_argv
from llamadoctor.testing import GiB, linux_cpu, replace_in, windows_conda
from llamadoctor.testing_files import LLAMA2_70B, hf_model, meta_model

# transformers' convert_llama_weights_to_hf.py loads every shard whole, then builds the model from them: the
# checkpoint plus about a tenth (its maintainers: 70B "needs 140GB of memory").
HF_SCRIPT_FACTOR = 1.1
BYTES_PER_WEIGHT = 2  # Meta's checkpoints are bf16


def transformers_peak(model: ModelDir) -> int:
    return math.ceil(sum(s.size for s in model.meta_shards) * HF_SCRIPT_FACTOR)


def streaming_peak(model: ModelDir) -> int:
    """`llamadoctor convert`: one layer's pages of the mapped shards, one merged tensor, and the process."""
    total = sum(s.size for s in model.meta_shards)
    params = arch_of(model)
    if params is None:
        return total // 8 + PROCESS_OVERHEAD  # unknown layers: a generous share
    return total // params.n_layers + params.largest_tensor() * BYTES_PER_WEIGHT + PROCESS_OVERHEAD


def _killed(facts: Facts) -> str:
    if facts.os == "windows":
        return _("stops with “DefaultCPUAllocator: not enough memory”")
    return _("is killed by the system (a bare `Killed`)")


SMALL = Memory(16 * GiB, 11 * GiB, 2 * GiB)


@check(
    id="convert-out-of-ram",
    summary="Converting the Meta checkpoint with transformers' script needs more RAM than there is",
    severity=Severity.INFO,
    group=Group.MODEL,
    requires=(META_TARGET, MEMORY),
    checked=lambda facts: _(
        "{ram} RAM available and {swap} swap against the checkpoints of the Meta model folders"
    ).format(ram=gib(facts.memory.ram_available), swap=gib(facts.memory.swap_total)),
    examples=(
        Healthy(linux_cpu(models=(meta_model(),))),
        Inapplicable(linux_cpu(models=(hf_model(),)), expect="no Meta-format model folder"),
        Broken(linux_cpu(models=(meta_model(),), memory=SMALL), expect="convert_llama_weights_to_hf.py"),
        Broken(linux_cpu(models=(meta_model(),), memory=SMALL), expect="a bare `Killed`"),
        Broken(
            replace_in(linux_cpu(models=(meta_model(),), memory=SMALL, host_limits=WSL_12G), "platform", wsl=True),
            expect="memory=12.00 GiB",
        ),
        Broken(windows_conda(models=(meta_model(),), memory=SMALL), expect="DefaultCPUAllocator"),
        Broken(
            linux_cpu(
                models=(meta_model(LLAMA2_70B, n_shards=8, path="/home/ada/llama-2-70b"),),
                memory=Memory(128 * GiB, 120 * GiB),
            ),
            expect="llamadoctor convert",
        ),
    ),
)
def convert_out_of_ram(facts: Facts) -> Iterator[Finding]:
    """What it checks: for each Meta-format folder to run, the RAM available now plus swap against what
    transformers' convert_llama_weights_to_hf.py holds at once: every shard read whole, the checkpoint's size
    and about a tenth more (13.5 GB for Llama 2 7B, about 140 GB for 70B). `llamadoctor convert` memory-maps
    the shards and writes one tensor at a time (about one layer in RAM); the finding says whether that fits.

    Why it matters: the script gives no warning: on Linux the kernel's OOM killer ends it with a bare
    `Killed`, on Windows it stops with `DefaultCPUAllocator: not enough memory`, after minutes of work.

    How to fix: convert with `llamadoctor convert --model-dir DIR --to hf`, download the model's official
    Hugging Face repository instead, or add swap.
    """
    memory = facts.memory
    room = memory.ram_available + memory.swap_total
    for model in targets(facts.models):
        if model.format != "meta" or not model.meta_shards:
            continue
        needed = transformers_peak(model)
        if needed <= room:
            continue
        ours = streaming_peak(model)
        if ours <= room:
            instead = _("`llamadoctor convert` streams it in about {size}").format(size=gib(ours))
            argv = [
                "llamadoctor",
                "convert",
                "--model-dir",
                model.path,
                "--to",
                "hf",
                "--out",
                hf_copy_path(model.path),
            ]
            remedy = render_argv(argv, facts.platform.shell)
        else:
            instead = _("even `llamadoctor convert`, streaming, needs about {size}").format(size=gib(ours))
            remedy = _("download the official Hugging Face repository of the model, or add swap")
        yield convert_out_of_ram.finding(
            # TRANSLATORS: {killed} says how the script ends ("is killed by the system"); {instead} what
            # `llamadoctor convert` needs; {wsl} is empty or a sentence about WSL's memory cap.
            _(
                "Converting {path} with transformers' convert_llama_weights_to_hf.py holds about {needed} in RAM, "
                "but {available} is available and {swap} of swap: the script {killed}; {instead}.{wsl}"
            ).format(
                path=model.path,
                needed=gib(needed),
                available=gib(memory.ram_available),
                swap=gib(memory.swap_total),
                killed=_killed(facts),
                instead=instead,
                wsl=wsl_note(facts),
            ),
            remedy=remedy,
            severity=Severity.WARNING if ours > room else None,
            path=model.path,
            needed=needed,
            streaming=ours,
            ram_available=memory.ram_available,
            swap_total=memory.swap_total,
        )
