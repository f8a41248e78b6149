"""Weights and parameters: files damaged or not weights at all, parameters no Llama has, shapes that
contradict params.json, shards vs processes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from llamadoctor.checks._requires import META_MODEL, META_TARGET, MODEL, count
from llamadoctor.checks._visible import hidden_note, visible_gpus
from llamadoctor.facts import Facts, Options
from llamadoctor.files import ModelDir, Shard, targets
from llamadoctor.formats import UNSAFE_PICKLE, UNSAFE_PICKLE_FIX
from llamadoctor.llama import ParamsError, heads_split_over, meta_code_runs, shard_shapes
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Severity
from llamadoctor.model_info import arch_of, declared_params, model_version, params_of
from llamadoctor.registry import check
from llamadoctor.shell import render_argv
from llamadoctor.testing import gpu, linux_gpu, nvidia
from llamadoctor.testing_files import LLAMA2_7B, LLAMA2_13B, LLAMA2_70B, hf_model, meta_model, shard

# What loading each kind of bad file prints, so the user recognises it.
SYMPTOMS = {
    "empty": "0 bytes (an expired link truncates files): `EOFError: Ran out of input`",
    "lfs-pointer": "a Git LFS pointer, not the weights (`git lfs pull` was never run): "
    "`invalid load key, 'v'` or `Unsupported operand 118`",
    "html": "a web page saved in place of the weights: `invalid load key, '<'`",
    "truncated": "cut short (an interrupted download): `PytorchStreamReader failed reading zip archive: "
    "failed finding central directory`",
    "unknown": "not a torch checkpoint",
    "unreadable": "unreadable",
    "unsafe": f"a pickle that {UNSAFE_PICKLE}: {UNSAFE_PICKLE_FIX}",
}
TOKENIZER_SYMPTOMS = {
    "empty": "is 0 bytes",
    "lfs-pointer": "is a Git LFS pointer",
    "html": "is a web page",
    "unreadable": "cannot be read",
    "unknown": "is neither SentencePiece nor tiktoken",
}


def _bad_files(model: ModelDir) -> list[str]:
    out = []
    for s in model.shards:
        if not s.ok:
            detail = f" ({s.detail})" if s.detail and s.kind in ("html", "truncated", "unknown") else ""
            out.append(f"{s.name} is {SYMPTOMS.get(s.kind, s.kind)}{detail}")
    tok = model.tokenizer
    if tok and tok.kind in TOKENIZER_SYMPTOMS:
        out.append(f"{tok.path} {TOKENIZER_SYMPTOMS[tok.kind]} (`could not parse ModelProto`)")
    return out


def _shape_problems(model: ModelDir) -> list[str]:
    arch = arch_of(model)
    shards = [s for s in model.meta_shards if s.ok and s.shapes]
    if model.format != "meta" or arch is None or not shards:
        return []
    tokenizer_words = model.tokenizer.n_words if model.tokenizer else None
    vocab_known = _declared_vocab(model) > 0 or arch.vocab_size == tokenizer_words
    n = len(model.meta_shards)
    expected = shard_shapes(arch, n)
    # Meta split the embedding by width (Llama 1/2) or by vocabulary (Llama 3): either is a healthy shard.
    embedding = {(arch.vocab_size // n, arch.dim), (arch.vocab_size, arch.dim // n)}
    out = []
    for s in shards:
        for key, shape in expected.items():
            got = tuple(s.shapes.get(key, shape))
            if key == "tok_embeddings.weight" and got in embedding:
                continue
            if got != shape and (vocab_known or "vocab" not in _dims(key)):
                out.append(
                    f"{s.name} has {key} {list(s.shapes[key])} where params.json and "
                    f"{len(model.meta_shards)} shard(s) mean {list(shape)}"
                )
                break
        if s.layers and s.layers != arch.n_layers:
            out.append(f"{s.name} has {s.layers} layers, params.json says {arch.n_layers}")
        elif not s.uniform_layers:
            out.append(f"{s.name}'s layers do not all have the same shapes")
    return out


def _declared_vocab(model: ModelDir) -> int:
    """params.json's own vocab_size: -1 when Llama 1/2 leave it to the tokenizer."""
    declared = declared_params(model)
    return declared.vocab_size if declared is not None else -1


def _dims(key: str) -> str:
    return "vocab" if key in ("tok_embeddings.weight", "output.weight") else ""


@check(
    id="shard-corrupt",
    summary="A weights or tokenizer file is damaged or is not what its name says",
    severity=Severity.ERROR,
    group=Group.MODEL,
    fixes=("redownload-failed-shards",),
    requires=(MODEL,),
    checked=lambda facts: (
        f"{count(sum(len(m.shards) for m in facts.models), 'weights file')} and "
        f"{count(sum(1 for m in facts.models if m.tokenizer), 'tokenizer')}, sniffed"
    ),
    examples=(
        Healthy(linux_gpu(models=(meta_model(),))),
        Inapplicable(linux_gpu(), expect="no model folder"),
        Broken(linux_gpu(models=(meta_model(shards=(shard(size=0, kind="empty"),)),)), expect="Ran out of input"),
        Broken(linux_gpu(models=(meta_model(shards=(shard(size=134, kind="lfs-pointer"),)),)), expect="LFS"),
        Broken(linux_gpu(models=(meta_model(LLAMA2_13B, shards=(shard(),)),)), expect="params.json"),
    ),
)
def shard_corrupt(facts: Facts) -> Iterator[Finding]:
    """What it checks: every consolidated.*.pth / *.safetensors and tokenizer.model without loading it: 0 bytes,
    a Git LFS pointer (`version https://git-lfs...`), an HTML page, a zip without its central directory
    (truncated), and tensor shapes (read from the checkpoint's data.pkl records) that contradict params.json
    and the number of shards.

    Why it matters: `torch.load` then fails with messages that point elsewhere: `failed finding central
    directory`, `invalid load key, 'v'`, `Weights only load failed ... Unsupported operand 118` (that is the
    `v` of an LFS pointer: not a reason to pass weights_only=False), size mismatches, or a silent garbage run.

    How to fix: re-download the named files with a fresh link (`git lfs pull` for a Hugging Face clone), then
    check again.
    """
    for model in facts.models:
        problems = _bad_files(model) + _shape_problems(model)
        if problems:
            yield shard_corrupt.finding(
                f"{model.path}: " + "; ".join(problems) + ".",
                path=model.path,
                files=[p.split(" ", 1)[0] for p in problems],
            )


def _params_error(model: ModelDir) -> str | None:
    try:
        params_of(model)
    except ParamsError as exc:
        return str(exc)
    return None


@check(
    id="params-invalid",
    summary="params.json or config.json holds values no Llama has",
    severity=Severity.ERROR,
    group=Group.MODEL,
    requires=(MODEL,),
    checked=lambda facts: f"the parameters of {count(len(facts.models), 'model folder')}",
    examples=(
        Inapplicable(linux_gpu(), expect="no model folder"),
        Healthy(linux_gpu(models=(meta_model(),))),
        Broken(linux_gpu(models=(meta_model({**LLAMA2_7B, "n_layers": 0}, shards=(shard(),)),)), expect="n_layers"),
        Broken(linux_gpu(models=(meta_model({**LLAMA2_7B, "dim": True}, shards=(shard(),)),)), expect="dim is true"),
    ),
)
def params_invalid(facts: Facts) -> Iterator[Finding]:
    """What it checks: every value of params.json (or an HF config.json) has the right type and a range a
    Llama can have: whole numbers of layers, heads and vocabulary above zero, a width the heads divide into
    even head sizes, key/value heads that divide the heads, finite positive norm_eps and rope_theta.

    Why it matters: Meta's code and transformers fail late and far from the cause (`ZeroDivisionError`,
    `RuntimeError: shape '[...]' is invalid`, a model with no layers that prints garbage), and converters
    write a config that contradicts the weights.

    How to fix: download params.json (or config.json) again, or restore the value the message names.
    """
    for model in facts.models:
        error = _params_error(model)
        if error:
            yield params_invalid.finding(f"{error}.", path=model.path)


def _is_llama2_chat_erratum(model: ModelDir) -> bool:
    arch = arch_of(model)
    return (
        model.format == "meta"
        and arch is not None
        and (arch.norm_eps, arch.dim, arch.n_layers, arch.kv_heads) == (1e-06, 4096, 32, 32)
        and model_version(model) == "2"
    )


@check(
    id="params-known-bad",
    summary="params.json holds a value Meta later corrected",
    severity=Severity.WARNING,
    group=Group.MODEL,
    fixes=("correct-params-json",),
    requires=(META_MODEL,),
    checked=lambda facts: f"params.json of {count(sum(1 for m in facts.models if m.format == 'meta'), 'folder')}",
    examples=(
        Healthy(linux_gpu(models=(meta_model(),))),
        Inapplicable(linux_gpu(models=(hf_model(),)), expect="no Meta-format model folder"),
        Healthy(
            linux_gpu(
                models=(
                    meta_model({**LLAMA2_7B, "norm_eps": 1e-06}, path="/m/llama-7b", shards=(shard(dtype="float16"),)),
                )
            )
        ),
        Broken(
            linux_gpu(models=(meta_model({**LLAMA2_7B, "norm_eps": 1e-06}, path="/m/llama-2-7b-chat"),)), expect="1e-05"
        ),
    ),
)
def params_known_bad(facts: Facts) -> Iterator[Finding]:
    """What it checks: known errata in Meta's params.json files. The first llama-2-7b-chat params.json shipped
    with `"norm_eps": 1e-06` (Llama 1's value); Meta confirmed 1e-05 is right (meta-llama/llama#771) and
    fixed the file. A Llama 2 folder is told from Llama 1 7B, whose 1e-06 is correct, by its name or its
    bfloat16 shards (Llama 1 shards are float16).

    Why it matters: the model still runs, but every RMSNorm is slightly off, and tools that guess the
    generation from norm_eps (llama.cpp's converter) take it for Llama 1.

    How to fix: set norm_eps to 1e-05 (`llamadoctor fix params-known-bad --unsafe`), or download
    params.json again.
    """
    for model in facts.models:
        if _is_llama2_chat_erratum(model):
            yield params_known_bad.finding(
                f"{model.path}/params.json has norm_eps 1e-06, the value of the first llama-2-7b-chat release; "
                "Meta corrected it to 1e-05 (meta-llama/llama#771).",
                path=model.path,
                norm_eps=1e-06,
            )


def _two_shards() -> tuple[Shard, ...]:
    return tuple(shard(f"consolidated.0{i}.pth", params=LLAMA2_13B, n_shards=2) for i in range(2))


@check(
    id="shards-vs-nproc",
    summary="The number of checkpoint shards does not match the processes or GPUs",
    severity=Severity.ERROR,
    group=Group.MODEL,
    requires=(META_TARGET,),
    checked=lambda facts: "; ".join(
        f"{count(len(m.meta_shards), 'shard')} of {m.name} against "
        + (f"--nproc {facts.options.nproc} and " if facts.options.nproc else "")
        + f"{count(len(visible_gpus(facts)), 'visible GPU')}"
        for m in targets(facts.models)
        if m.format == "meta" and m.shards
    ),
    examples=(
        Healthy(linux_gpu(models=(meta_model(),), options=Options(nproc=1))),
        Inapplicable(linux_gpu(models=(hf_model(),)), expect="no Meta-format model folder to run"),
        Healthy(
            linux_gpu(
                models=(meta_model(LLAMA2_13B, shards=_two_shards()),),
                gpu=nvidia(gpu(), gpu(index=1)),
                options=Options(nproc=2),
            )
        ),
        Broken(
            linux_gpu(models=(meta_model(LLAMA2_13B, shards=_two_shards()),), options=Options(nproc=1)),
            expect="Loading a checkpoint for MP=2 but world size is 1",
        ),
        Broken(
            linux_gpu(models=(dataclasses.replace(meta_model(LLAMA2_70B, n_shards=8)),)),
            expect="invalid device ordinal",
        ),
        Broken(
            linux_gpu(
                models=(meta_model(LLAMA2_13B, shards=_two_shards()),),
                gpu=nvidia(gpu(), gpu(index=1)),
                env={"CUDA_VISIBLE_DEVICES": "1"},
            ),
            expect="CUDA_VISIBLE_DEVICES='1' shows 1 of the 2 found",
        ),
    ),
)
def shards_vs_nproc(facts: Facts) -> Iterator[Finding]:
    """What it checks: for Meta-format folders, the number of *.pth shards (the model-parallel size: 7B=1,
    13B=2, 70B=8) against --nproc and against the GPUs present (those CUDA_VISIBLE_DEVICES leaves visible).

    Why it matters: Meta's code starts one process per shard, each on its own GPU. Another --nproc_per_node
    fails with `AssertionError: Loading a checkpoint for MP=2 but world size is 1`; fewer GPUs than shards
    fails in `torch.cuda.set_device` with `CUDA error: invalid device ordinal`.

    How to fix: `torchrun --nproc_per_node <shards>`; with fewer GPUs than shards, use `llamadoctor run`
    (it merges the shards in one process), the Hugging Face format with device_map="auto", or a smaller model.
    """
    for model in targets(facts.models):
        n = len(model.meta_shards) if model.format == "meta" else 0
        if n == 0:
            continue
        nproc = facts.options.nproc
        if nproc is not None and not meta_code_runs(n, nproc):
            yield shards_vs_nproc.finding(
                f"{model.path} has {n} shard(s) but --nproc is {nproc}: Meta's code fails with "
                f"`Loading a checkpoint for MP={n} but world size is {nproc}`. Run with "
                f"`torchrun --nproc_per_node {n}`.",
                remedy=_reshard_remedy(model, nproc, facts.platform.shell),
                path=model.path,
                shards=n,
                nproc=nproc,
            )
        gpus = len(visible_gpus(facts))
        if facts.gpu.gpus and n > gpus:
            yield shards_vs_nproc.finding(
                f"{model.path} has {n} shards, one per GPU, but this machine shows {gpus} GPU(s)"
                f"{hidden_note(facts)}: process {gpus} fails with `CUDA error: invalid device ordinal`. Use "
                "`llamadoctor run` (merges the shards in one process), the Hugging Face format, or a smaller model.",
                path=model.path,
                shards=n,
                gpus=gpus,
            )


def _reshard_remedy(model: ModelDir, nproc: int, shell: str) -> str:
    """The other way out: re-shard the checkpoint for the processes the user has, where the heads split."""
    arch = arch_of(model)
    if arch is None or not heads_split_over(arch, nproc):
        return ""
    out = f"{model.path.rstrip('/')}-mp{nproc}"
    argv = ["llamadoctor", "convert", "--model-dir", model.path, "--shards", str(nproc), "--out", out]
    command = render_argv(argv, shell)
    return f"or re-shard it for {nproc} process(es), then point the code at the new folder:\n{command}"
