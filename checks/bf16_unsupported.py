"""GPUs without bfloat16: Llama's default dtype."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.checks._requires import NVIDIA_GPU
from llamadoctor.facts import Facts, Options
from llamadoctor.model import Broken, Group, Healthy, Inapplicable, NotApplicable, Outcome, Severity
from llamadoctor.registry import check
from llamadoctor.testing import gpu, linux_cpu, linux_gpu, nvidia, windows_conda

TESLA_T4 = nvidia(gpu("Tesla T4", vram_gib=15, cc=(7, 5)))
TWO_GPUS = nvidia(gpu("NVIDIA GeForce RTX 3090"), gpu("Tesla V100-SXM2-16GB", vram_gib=16, cc=(7, 0), index=1))


@check(
    id="bf16-unsupported",
    summary="A GPU has no bfloat16 support (compute capability below 8.0)",
    severity=Severity.WARNING,
    group=Group.GPU,
    platforms=("linux", "windows"),
    requires=(NVIDIA_GPU,),
    checked=lambda facts: (
        "compute capability of "
        + ", ".join(f"GPU {g.index} ({'.'.join(map(str, g.compute_capability or ('?',)))})" for g in facts.gpu.gpus)
    ),
    examples=[
        Healthy(linux_gpu()),
        Healthy(windows_conda()),
        Inapplicable(linux_cpu(), expect="no NVIDIA GPU"),
        Inapplicable(linux_gpu(gpu=TESLA_T4, options=Options(dtype="fp16")), expect="--dtype fp16"),
        Broken(linux_gpu(gpu=TESLA_T4), expect="Tesla T4 has compute capability 7.5"),
        Broken(linux_gpu(gpu=TWO_GPUS), expect="GPU 1, Tesla V100-SXM2-16GB"),
        Broken(
            windows_conda(gpu=nvidia(gpu("NVIDIA GeForce RTX 2080 Ti", vram_gib=11, cc=(7, 5)))),
            expect="RTX 2080 Ti has compute capability 7.5",
        ),
    ],
)
def bf16_unsupported(facts: Facts) -> Iterator[Outcome]:
    """A GPU that cannot compute in bfloat16, the dtype Llama 2 and 3 checkpoints are stored and run in.

    What it checks: the compute capability of each NVIDIA GPU; bfloat16 needs 8.0 (Ampere) or newer. Skipped
    when the run asks for another dtype (`--dtype fp16`/`fp32`).
    Why it matters: vLLM and others refuse: "Bfloat16 is only supported on GPUs with compute capability of at
    least 8.0. Your Tesla T4 GPU has compute capability 7.5."; Meta's llama3 code silently falls back to fp16,
    where activations can overflow to inf/NaN.
    How to fix: run in float16 (`--dtype fp16`; `torch_dtype=torch.float16` in transformers, `--dtype=half` in
    vLLM), or use an Ampere or newer GPU.
    """
    if facts.options.dtype not in (None, "bf16", "bfloat16"):
        yield NotApplicable(f"--dtype {facts.options.dtype}")
        return
    for device in facts.gpu.gpus:
        cc = device.compute_capability
        if cc is None or cc >= (8, 0):
            continue
        yield bf16_unsupported.finding(
            f"GPU {device.index}, {device.name} has compute capability {cc[0]}.{cc[1]}: “Bfloat16 is only "
            "supported on GPUs with compute capability of at least 8.0”, so Llama must run in float16 there.",
            remedy="run with --dtype fp16 (transformers: torch_dtype=torch.float16; vLLM: --dtype=half)",
            gpu=device.name,
            capability=f"{cc[0]}.{cc[1]}",
        )
