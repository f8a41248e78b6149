"""Will the model fit: VRAM (or RAM) for the run asked for, and disk for a conversion to HF format."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.checks._requires import META_TARGET, TARGET_MODEL
from llamadoctor.estimate import gib
from llamadoctor.facts import Facts, Memory, Options
from llamadoctor.files import ModelDir, targets
from llamadoctor.i18n import _, ngettext
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
    return _("weights {weights} + KV cache {cache} + activations {activations} + overhead {overhead}").format(
        weights=gib(est.weights_bytes // n),
        cache=gib(est.kv_cache_bytes // n),
        activations=gib(est.activation_bytes),
        overhead=gib(est.overhead_bytes),
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
    # TRANSLATORS: follows the sentence of ways out; {precision} is like "bf16 + int8".
    return _(
        " It fits quantized ({precision}: {needed}): `llamadoctor run chat --model-dir {path} --quantize "
        "{quantize}{dtype}`."
    ).format(
        precision=found.precision, needed=gib(found.needed_bytes), path=model.path, quantize=found.quantize, dtype=dtype
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
                    _("run on the CPU ({flags}: needs {needed} of {ram} RAM available; slow)").format(
                        flags=flags, needed=gib(cpu.total_bytes), ram=gib(ram)
                    )
                )
                break
    exits.append(_("a smaller model"))
    # TRANSLATORS: the separator between the ways out of a memory shortfall.
    ways = _("; ").join(exits)
    return _("Ways out: {ways}.").format(ways=ways) + _quantized(est, available, model)


def _gpu_shortfalls(est: Estimate, facts: Facts) -> list[str]:
    out = []
    for g in facts.gpu.gpus[: est.nproc]:
        if est.per_device_bytes > g.memory_free:
            out.append(
                _("GPU {index} ({name}) has {free} free of {total}").format(
                    index=g.index, name=g.name, free=gib(g.memory_free), total=gib(g.memory_total)
                )
            )
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
            yield NotApplicable(
                _("the size of {path} is unknown (no usable params.json or config.json)").format(path=model.path)
            )
            continue
        what = _("{path} ({version}, {params} parameters)").format(
            path=model.path, version=label(model_version(model)), params=f"{est.params:,}"
        )
        if device == "cuda":
            short = _gpu_shortfalls(est, facts)
            available, needed, fits = min(g.memory_free for g in facts.gpu.gpus), est.per_device_bytes, not short
        else:
            short, available, needed = [], facts.memory.ram_available, est.total_bytes
            fits = needed <= available
        if fits:
            yield Passed(_fits(model, est, device))
            continue
        yield memory_insufficient.finding(
            _shortfall(device).format(
                what=what,
                needed=gib(needed),
                settings=_settings(est),
                breakdown=_breakdown(est),
                shortfalls=_("; ").join(short),
                available=gib(available),
                exits=_exits(est, available, facts, device, model),
            ),
            path=model.path,
            needed=needed,
            device=device,
        )


def _fits(model: ModelDir, est: Estimate, device: str) -> str:
    if device == "cuda":
        text = _("{name} needs {needed} per GPU with {settings}, and has it")
    else:
        text = _("{name} needs {needed} of RAM with {settings}, and has it")
    needed = est.per_device_bytes if device == "cuda" else est.total_bytes
    return text.format(name=model.name, needed=gib(needed), settings=_settings(est))


def _shortfall(device: str) -> str:
    """The message, to be filled, for a model that does not fit where the run would go."""
    if device == "cuda":
        return _("{what} needs {needed} per GPU with {settings} ({breakdown}), but {shortfalls}. {exits}")
    if device == "mps":
        return _(
            "{what} needs {needed} of unified memory (Apple Silicon) with {settings} ({breakdown}), but "
            "{available} is available. {exits}"
        )
    return _("{what} needs {needed} of RAM with {settings} ({breakdown}), but {available} is available. {exits}")


def conversion_needs(model: ModelDir) -> tuple[int, int] | None:
    """(bytes for transformers' convert_llama_weights_to_hf.py, bytes for llamadoctor's streaming converter)."""
    weights = model.weights_bytes
    arch = arch_of(model)
    if weights <= 0 or arch is None:
        return None
    return 2 * weights, weights + 2 * arch.largest_tensor()


def _free_disk_checked(folders: int) -> str:
    return ngettext(
        "free disk beside {count} Meta-format folder", "free disk beside {count} Meta-format folders", folders
    ).format(count=folders)


@check(
    id="disk-insufficient-for-conversion",
    summary="Not enough free disk to convert the model to Hugging Face format",
    severity=Severity.WARNING,
    group=Group.MODEL,
    requires=(META_TARGET,),
    checked=lambda facts: _free_disk_checked(sum(1 for m in targets(facts.models) if m.format == "meta")),
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
                _(
                    "{path}: {free} free, but transformers' convert_llama_weights_to_hf.py needs about "
                    "{transformers} (2x the model); llamadoctor's streaming converter needs {ours} and fits."
                ).format(path=model.path, free=free, transformers=gib(transformers), ours=gib(ours)),
                path=model.path,
                free=model.disk_free,
                needed_transformers=transformers,
                needed_streaming=ours,
            )
        else:
            yield disk_insufficient_for_conversion.finding(
                _(
                    "{path}: {free} free, but a conversion to Hugging Face format needs {ours} even with "
                    "llamadoctor's streaming converter (1x the model plus its largest tensor), and about "
                    "{transformers} with transformers' convert_llama_weights_to_hf.py."
                ).format(path=model.path, free=free, transformers=gib(transformers), ours=gib(ours)),
                path=model.path,
                free=model.disk_free,
                needed_transformers=transformers,
                needed_streaming=ours,
            )
