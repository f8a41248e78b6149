"""bfloat16, Llama's own dtype: GPUs without it, float16 chosen where bfloat16 works, float16 on the CPU."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.checks._requires import NVIDIA_GPU, TORCH
from llamadoctor.checks.memory_fit import device_of
from llamadoctor.facts import Facts, Options
from llamadoctor.i18n import N_, _
from llamadoctor.model import (
    Broken,
    Finding,
    Group,
    Healthy,
    Inapplicable,
    NotApplicable,
    Outcome,
    Requires,
    Severity,
)
from llamadoctor.registry import check
from llamadoctor.testing import (
    gpu,
    linux_cpu,
    linux_cpu_only_torch,
    linux_gpu,
    mac_arm,
    nvidia,
    torch_info,
    windows_conda,
)
from llamadoctor.torch_builds import version_tuple

TESLA_T4 = nvidia(gpu("Tesla T4", vram_gib=15, cc=(7, 5)))
TWO_GPUS = nvidia(gpu("NVIDIA GeForce RTX 3090"), gpu("Tesla V100-SXM2-16GB", vram_gib=16, cc=(7, 0), index=1))


def _capabilities(facts: Facts) -> str:
    gpus = ", ".join(f"GPU {g.index} ({'.'.join(map(str, g.compute_capability or ('?',)))})" for g in facts.gpu.gpus)
    return _("compute capability of {gpus}").format(gpus=gpus)


@check(
    id="bf16-unsupported",
    summary="A GPU has no bfloat16 support (compute capability below 8.0)",
    severity=Severity.WARNING,
    group=Group.GPU,
    platforms=("linux", "windows"),
    requires=(NVIDIA_GPU,),
    checked=_capabilities,
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
        yield NotApplicable(f"--dtype {facts.options.dtype}")  # a command's words, the same in any language
        return
    for device in facts.gpu.gpus:
        cc = device.compute_capability
        if cc is None or cc >= (8, 0):
            continue
        yield bf16_unsupported.finding(
            _(
                "GPU {index}, {gpu} has compute capability {capability}: “Bfloat16 is only supported on GPUs with "
                "compute capability of at least 8.0”, so Llama must run in float16 there."
            ).format(index=device.index, gpu=device.name, capability=f"{cc[0]}.{cc[1]}"),
            remedy=_("run with --dtype fp16 (transformers: torch_dtype=torch.float16; vLLM: --dtype=half)"),
            gpu=device.name,
            capability=f"{cc[0]}.{cc[1]}",
        )


FP16 = ("fp16", "float16", "half")


def _not_fp16(facts: Facts) -> str:
    if facts.options.dtype:
        return _("--dtype {dtype}, not fp16").format(dtype=facts.options.dtype)
    return _("--dtype not given, not fp16")


FP16_RUN = Requires(lambda f: f.options.dtype in FP16, _not_fp16)


@check(
    id="fp16-where-bf16-works",
    summary="float16 asked for on GPUs that have bfloat16: sampling can meet inf or NaN",
    severity=Severity.WARNING,
    group=Group.GPU,
    platforms=("linux", "windows"),
    requires=(NVIDIA_GPU, FP16_RUN),
    checked=lambda facts: _("--dtype {dtype} against the GPUs' compute capability").format(dtype=facts.options.dtype),
    examples=[
        Inapplicable(linux_gpu(options=Options(dtype="bf16")), expect="not fp16"),
        Healthy(linux_gpu(gpu=TESLA_T4, options=Options(dtype="fp16"))),
        Inapplicable(linux_cpu(options=Options(dtype="fp16")), expect="no NVIDIA GPU"),
        Broken(linux_gpu(options=Options(dtype="fp16")), expect="probability tensor contains either `inf`, `nan`"),
        Broken(windows_conda(options=Options(dtype="half")), expect="RTX 4070 has compute capability 8.9"),
    ],
)
def fp16_where_bf16_works(facts: Facts) -> Iterator[Finding]:
    """float16 chosen on GPUs that could run Llama in bfloat16.

    What it checks: --dtype fp16 when every GPU has compute capability 8.0 or newer (bfloat16 in hardware).
    Why it matters: Llama was trained in bfloat16; some activations exceed float16's range (65504), turn into
    inf and then NaN, and sampling stops with `RuntimeError: probability tensor contains either `inf`, `nan`
    or element < 0` (or answers turn to garbage). bfloat16 has float32's range at the same size and speed.
    How to fix: run with --dtype bf16 (transformers: torch_dtype=torch.bfloat16).
    """
    gpus = facts.gpu.gpus
    if any(g.compute_capability is None or g.compute_capability < (8, 0) for g in gpus):
        return  # bfloat16 is not an option on every GPU: the bf16-unsupported check speaks for them
    first = gpus[0]
    cc = first.compute_capability or (0, 0)
    yield fp16_where_bf16_works.finding(
        _(
            "--dtype {dtype} asks for float16, but {gpu} has compute capability {capability} and runs bfloat16: "
            "in float16 Llama's activations can overflow, and sampling stops with “probability tensor contains "
            "either `inf`, `nan` or element < 0”."
        ).format(dtype=facts.options.dtype, gpu=first.name, capability=f"{cc[0]}.{cc[1]}"),
        remedy=_("run with --dtype bf16 (transformers: torch_dtype=torch.bfloat16)"),
        dtype=facts.options.dtype,
        gpu=first.name,
    )


CPU_RUN = Requires(lambda f: device_of(f) == "cpu", N_("the run would use a GPU, which has float16 kernels"))
# The first torch release whose CPU matrix multiply accepts float16: older ones stop on the first linear layer.
CPU_HALF_MATMUL = (2, 1)


@check(
    id="fp16-on-cpu",
    summary="float16 asked for a run on the CPU, which lacks fast (or any) float16 kernels",
    severity=Severity.WARNING,
    group=Group.MODEL,
    requires=(TORCH, CPU_RUN),
    checked=lambda facts: _("--dtype {dtype} on the CPU with torch {version}").format(
        dtype=facts.options.dtype or "auto (fp32)", version=facts.torch.version
    ),
    examples=[
        Healthy(linux_cpu()),
        Healthy(linux_cpu(options=Options(dtype="bf16"))),
        Inapplicable(linux_gpu(options=Options(dtype="fp16")), expect="would use a GPU"),
        Inapplicable(mac_arm(options=Options(dtype="fp16")), expect="would use a GPU"),
        Broken(
            linux_cpu(options=Options(dtype="fp16"), torch=torch_info("2.0.1")),
            expect="“\"addmm_impl_cpu_\" not implemented for 'Half'”",
        ),
        Broken(linux_cpu_only_torch(options=Options(dtype="half")), expect="no NVIDIA GPU torch can use"),
        Broken(linux_cpu(options=Options(dtype="fp16")), expect="torch 2.3.1 emulates float16"),
    ],
)
def fp16_on_cpu(facts: Facts) -> Iterator[Finding]:
    """float16 chosen for a run that will happen on the CPU.

    What it checks: --dtype fp16 (or half) when the run would go to the CPU: no GPU, or a GPU torch cannot
    use (a CPU-only build of torch), and not Apple Silicon's MPS.
    Why it matters: torch before 2.1 has no float16 matrix multiply on the CPU, so the first layer stops with
    `RuntimeError: "addmm_impl_cpu_" not implemented for 'Half'` (LayerNorm and others follow); later
    releases run it by converting every value, several times slower than float32 on most CPUs.
    How to fix: run in float32 on the CPU (`--dtype fp32`, or leave --dtype out; transformers:
    `torch_dtype=torch.float32`), or bfloat16 on CPUs with native support, or put the model on a GPU.
    """
    if facts.options.dtype not in FP16:
        return
    version = facts.torch.version or ""
    why = _("no NVIDIA GPU torch can use") if facts.gpu.gpus else _("no GPU")
    if version_tuple(version)[:2] < CPU_HALF_MATMUL:
        # TRANSLATORS: {why} says why the run goes to the CPU ("no GPU").
        message = _(
            "--dtype {dtype} asks for float16, but the run goes to the CPU ({why}): torch {version} has no float16 "
            'matrix multiply on the CPU: the run stops at the first layer with “"addmm_impl_cpu_" not '
            "implemented for 'Half'”."
        )
        severity = Severity.ERROR
    else:
        message = _(
            "--dtype {dtype} asks for float16, but the run goes to the CPU ({why}): torch {version} emulates "
            "float16 there, several times slower than float32."
        )
        severity = Severity.WARNING
    yield fp16_on_cpu.finding(
        message.format(dtype=facts.options.dtype, why=why, version=version),
        remedy=_("run with --dtype fp32 on the CPU (transformers: torch_dtype=torch.float32)"),
        severity=severity,
        dtype=facts.options.dtype,
        torch=version,
    )
