"""Will the model fit: VRAM (or RAM) for the run asked for, and disk for a conversion to HF format."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.checks._requires import META_TARGET, TARGET_MODEL, count
from llamadoctor.estimate import gib
from llamadoctor.facts import Facts, Memory, Options
from llamadoctor.files import ModelDir, targets
from llamadoctor.llama import Estimate, estimate, fitting_quantization, ways_out
from llamadoctor.llama.quantized import folder_quantization
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, NotApplicable, Outcome, Passed, Severity
from llamadoctor.model_info import arch_of, label, model_version
from llamadoctor.registry import check
from llamadoctor.testing import GiB, gpu, linux_cpu, linux_gpu, nvidia, windows_conda
from llamadoctor.testing_files import LLAMA2_70B, LLAMA3_8B, hf_model, meta_model


def device_of(facts: Facts) -> str:
    """Where the run would go: "cuda" with NVIDIA GPUs and a CUDA torch, "mps" on Apple Silicon, else "cpu"."""
    if facts.gpu.gpus and facts.torch.cuda:
        return "cuda"
    if facts.gpu.apple_silicon and facts.torch.mps is not False:
        return "mps"
    return "cpu"


def _nproc(model: ModelDir, options: Options) -> int:
    if options.nproc:
        return options.nproc
    return max(1, len(model.meta_shards)) if model.format == "meta" else 1


def _estimate(model: ModelDir, facts: Facts, device: str) -> Estimate | None:
    arch = arch_of(model)
    if arch is None:
        return None
    opts = facts.options
    gpus = facts.gpu.gpus if device == "cuda" else ()
    try:
        return estimate(
            arch,
            dtype=opts.dtype,
            device=device,
            max_seq_len=opts.max_seq_len,
            max_batch_size=opts.max_batch_size,
            nproc=_nproc(model, opts),
            capability=gpus[0].compute_capability if gpus else None,
            quantize=folder_quantization(model.params),  # a folder `convert --quantize` wrote runs quantized
        )
    except ValueError:  # an unknown --dtype is the CLI's business
        return None


def _settings(est: Estimate) -> str:
    return f"{est.precision}, max_seq_len {est.max_seq_len}, max_batch_size {est.max_batch_size}"


def _breakdown(est: Estimate) -> str:
    n = est.nproc
    return (
        f"weights {gib(est.weights_bytes // n)} + KV cache {gib(est.kv_cache_bytes // n)} + activations "
        f"{gib(est.activation_bytes)} + overhead {gib(est.overhead_bytes)}"
    )


def _quantized(est: Estimate, available: int, model: ModelDir) -> str:
    """The exact `run` command that fits when only a quantized run does, as a sentence; else ""."""
    if est.quantize is not None or est.with_(dtype="bf16" if est.dtype == "fp32" else est.dtype).needed_bytes <= (
        available
    ):
        return ""
    found = fitting_quantization(est, available)
    if found is None:
        return ""
    dtype = f" --dtype {found.dtype}" if found.dtype != est.dtype else ""
    return (
        f" It fits quantized ({found.precision}: {gib(found.needed_bytes)}): "
        f"`llamadoctor run chat --model-dir {model.path} --quantize {found.quantize}{dtype}`."
    )


def _exits(est: Estimate, available: int, facts: Facts, device: str, model: ModelDir) -> str:
    exits = ways_out(est, available)
    if device != "cpu":
        ram = facts.memory.ram_available
        for flags, cpu in (
            ("--device cpu", est.with_(device="cpu", dtype=None)),
            ("--device cpu --dtype bf16", est.with_(device="cpu", dtype="bf16")),
        ):
            if cpu.total_bytes <= ram:
                exits.append(
                    f"run on the CPU ({flags}: needs {gib(cpu.total_bytes)} of {gib(ram)} RAM available; slow)"
                )
                break
    exits.append("a smaller model")
    return "Ways out: " + "; ".join(exits) + "." + _quantized(est, available, model)


def _gpu_shortfalls(est: Estimate, facts: Facts) -> list[str]:
    out = []
    for g in facts.gpu.gpus[: est.nproc]:
        if est.per_device_bytes > g.memory_free:
            out.append(f"GPU {g.index} ({g.name}) has {gib(g.memory_free)} free of {gib(g.memory_total)}")
    return out


@check(
    id="memory-insufficient",
    summary="The model and its KV cache do not fit in free VRAM or RAM",
    severity=Severity.ERROR,
    group=Group.MODEL,
    requires=(TARGET_MODEL,),
    examples=(
        Healthy(linux_gpu(models=(meta_model(),))),
        Healthy(linux_cpu(models=(meta_model(),), options=Options(dtype="bf16"))),
        Inapplicable(linux_gpu(), expect="no model folder"),
        Broken(windows_conda(models=(meta_model(),)), expect="GPU 0 (NVIDIA GeForce RTX 4070) has"),
        Broken(windows_conda(models=(meta_model(),)), expect="--quantize int8`"),
        Broken(
            linux_cpu(models=(meta_model(LLAMA2_70B, n_shards=8),), memory=Memory(32 * GiB, 24 * GiB)), expect="RAM"
        ),
        Broken(
            linux_gpu(
                models=(meta_model(LLAMA3_8B),),
                options=Options(max_seq_len=131072, max_batch_size=4),
                gpu=nvidia(gpu("NVIDIA A100 80GB PCIe", vram_gib=80)),
            ),
            expect="--max-seq-len",
        ),
    ),
)
def memory_insufficient(facts: Facts) -> Iterator[Outcome]:
    """What it checks: weights + KV cache (Meta preallocates it for --max-seq-len x --max-batch-size) +
    activations + runtime overhead, per process, against the free VRAM of each GPU it would use, or against
    available RAM on CPU and Apple Silicon (unified memory). The same estimator backs `llamadoctor estimate`.

    Why it matters: a 7B model in 16-bit is 12.6 GiB before its cache; on a 12 GB card that is
    `torch.cuda.OutOfMemoryError: CUDA out of memory` after a long load, and on CPU the OOM killer's bare
    `Killed`.

    How to fix: the message lists what would fit: bf16/fp16 instead of fp32, a shorter --max-seq-len, a
    smaller --max-batch-size, the CPU, or a smaller model; where only weight-only quantization makes it fit,
    the exact `llamadoctor run ... --quantize int8` (or int4) command.
    """
    device = device_of(facts)
    for model in targets(facts.models):
        est = _estimate(model, facts, device)
        if est is None:
            yield NotApplicable(f"the size of {model.path} is unknown (no usable params.json or config.json)")
            continue
        needed = f"{gib(est.per_device_bytes)} per GPU" if device == "cuda" else f"{gib(est.total_bytes)} of RAM"
        fits = Passed(f"{model.name} needs {needed} with {_settings(est)}, and has it")
        what = f"{model.path} ({label(model_version(model))}, {est.params:,} parameters)"
        if device == "cuda":
            short = _gpu_shortfalls(est, facts)
            if short:
                yield memory_insufficient.finding(
                    f"{what} needs {gib(est.per_device_bytes)} per GPU with {_settings(est)} ({_breakdown(est)}), "
                    f"but {'; '.join(short)}. "
                    + _exits(est, min(g.memory_free for g in facts.gpu.gpus), facts, device, model),
                    path=model.path,
                    needed=est.per_device_bytes,
                    device=device,
                )
            else:
                yield fits
            continue
        available = facts.memory.ram_available
        if est.total_bytes > available:
            where = "unified memory (Apple Silicon)" if device == "mps" else "RAM"
            yield memory_insufficient.finding(
                f"{what} needs {gib(est.total_bytes)} of {where} with {_settings(est)} ({_breakdown(est)}), "
                f"but {gib(available)} is available. " + _exits(est, available, facts, device, model),
                path=model.path,
                needed=est.total_bytes,
                device=device,
            )
        else:
            yield fits


def conversion_needs(model: ModelDir) -> tuple[int, int] | None:
    """(bytes for transformers' convert_llama_weights_to_hf.py, bytes for llamadoctor's streaming converter)."""
    weights = model.weights_bytes
    arch = arch_of(model)
    if weights <= 0 or arch is None:
        return None
    return 2 * weights, weights + 2 * arch.largest_tensor()


@check(
    id="disk-insufficient-for-conversion",
    summary="Not enough free disk to convert the model to Hugging Face format",
    severity=Severity.WARNING,
    group=Group.MODEL,
    requires=(META_TARGET,),
    checked=lambda facts: (
        "free disk beside " + count(sum(1 for m in targets(facts.models) if m.format == "meta"), "Meta-format folder")
    ),
    examples=(
        Healthy(linux_gpu(models=(meta_model(),))),
        Inapplicable(linux_gpu(models=(hf_model(),)), expect="no Meta-format model folder"),
        Broken(linux_gpu(models=(meta_model(disk_free=20 * GiB),)), expect="convert_llama_weights_to_hf.py"),
        Broken(linux_gpu(models=(meta_model(disk_free=5 * GiB),)), expect="streaming converter"),
    ),
)
def disk_insufficient_for_conversion(facts: Facts) -> Iterator[Finding]:
    """What it checks: free space on the file system of each Meta-format model folder (where a conversion
    writes by default) against what a conversion to Hugging Face format needs: about 2x the model for
    transformers' convert_llama_weights_to_hf.py (it writes a tmp/ copy, then the safetensors), about 1x plus
    the largest tensor for llamadoctor's streaming converter.

    Why it matters: the transformers script runs for minutes and then fails with `PytorchStreamWriter failed
    writing file data/...: file write failed` (inline_container.cc), leaving a partial output behind.

    How to fix: free space, or choose an --output_dir on a file system with room; or use the pre-converted
    `-hf` repositories.
    """
    for model in targets(facts.models):
        needs = conversion_needs(model) if model.format == "meta" else None
        if needs is None or model.disk_free is None:
            continue
        transformers, ours = needs
        if model.disk_free >= transformers:
            continue
        free = gib(model.disk_free)
        if model.disk_free >= ours:
            yield disk_insufficient_for_conversion.finding(
                f"{model.path}: {free} free, but transformers' convert_llama_weights_to_hf.py needs about "
                f"{gib(transformers)} (2x the model); llamadoctor's streaming converter needs {gib(ours)} and fits.",
                path=model.path,
                free=model.disk_free,
                needed_transformers=transformers,
                needed_streaming=ours,
            )
        else:
            yield disk_insufficient_for_conversion.finding(
                f"{model.path}: {free} free, but a conversion to Hugging Face format needs {gib(ours)} even with "
                f"llamadoctor's streaming converter (1x the model plus its largest tensor), and about "
                f"{gib(transformers)} with transformers' convert_llama_weights_to_hf.py.",
                path=model.path,
                free=model.disk_free,
                needed_transformers=transformers,
                needed_streaming=ours,
            )
