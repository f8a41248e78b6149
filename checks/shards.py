"""Weights and parameters: files damaged or not weights at all, parameters no Llama has, shapes that
contradict params.json, shards vs processes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from llamadoctor.checks._requires import META_MODEL, META_TARGET, MODEL
from llamadoctor.checks._visible import hidden_note, visible_gpus
from llamadoctor.facts import Facts, Options
from llamadoctor.files import ModelDir, Shard, targets
from llamadoctor.formats import UNSAFE_PICKLE, UNSAFE_PICKLE_FIX
from llamadoctor.i18n import N_, _, ngettext
from llamadoctor.llama import ParamsError, heads_split_over, meta_code_runs, shard_shapes
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Severity
from llamadoctor.model_info import arch_of, declared_params, model_version, params_of
from llamadoctor.registry import check
from llamadoctor.shell import render_argv
from llamadoctor.testing import gpu, linux_gpu, nvidia
from llamadoctor.testing_files import LLAMA2_7B, LLAMA2_13B, LLAMA2_70B, hf_model, meta_model, shard

# What loading each kind of bad file prints, so the user recognises it ({name}: the file's name).
SYMPTOMS = {
    "empty": N_("{name} is 0 bytes (an expired link truncates files): `EOFError: Ran out of input`"),
    "lfs-pointer": N_(
        "{name} is a Git LFS pointer, not the weights (`git lfs pull` was never run): `invalid load key, 'v'` or "
        "`Unsupported operand 118`"
    ),
    "html": N_("{name} is a web page saved in place of the weights: `invalid load key, '<'`"),
    "truncated": N_(
        "{name} is cut short (an interrupted download): `PytorchStreamReader failed reading zip archive: failed "
        "finding central directory`"
    ),
    "unknown": N_("{name} is not a torch checkpoint"),
    "unreadable": N_("{name} is unreadable"),
    # TRANSLATORS: {problem} and {remedy} are the runner's own words about an unsafe checkpoint.
    "unsafe": N_("{name} is a pickle that {problem}: {remedy}"),
}
TOKENIZER_SYMPTOMS = {
    "empty": N_("{path} is 0 bytes (`could not parse ModelProto`)"),
    "lfs-pointer": N_("{path} is a Git LFS pointer (`could not parse ModelProto`)"),
    "html": N_("{path} is a web page (`could not parse ModelProto`)"),
    "unreadable": N_("{path} cannot be read (`could not parse ModelProto`)"),
    "unknown": N_("{path} is neither SentencePiece nor tiktoken (`could not parse ModelProto`)"),
}


def _symptom(s: Shard) -> str:
    # TRANSLATORS: {kind} is the probe's name for what is wrong with the file, in English.
    text = _(SYMPTOMS[s.kind]) if s.kind in SYMPTOMS else _("{name} is {kind}")
    said = text.format(name=s.name, kind=s.kind, problem=_(UNSAFE_PICKLE), remedy=_(UNSAFE_PICKLE_FIX))
    if s.detail and s.kind in ("html", "truncated", "unknown"):
        # TRANSLATORS: {detail} is what the probe read in the file (an HTML page's title).
        return _("{problem} ({detail})").format(problem=said, detail=s.detail)
    return said


def _bad_files(model: ModelDir) -> list[tuple[str, str]]:
    """(file, what is wrong with it) for every damaged weights or tokenizer file."""
    out = [(s.name, _symptom(s)) for s in model.shards if not s.ok]
    tok = model.tokenizer
    if tok and tok.kind in TOKENIZER_SYMPTOMS:
        out.append((tok.path, _(TOKENIZER_SYMPTOMS[tok.kind]).format(path=tok.path)))
    return out


def _shape_problems(model: ModelDir) -> list[tuple[str, str]]:
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
                said = _("{name} has {key} {got} where params.json and {shards} shard(s) mean {expected}")
                out.append(
                    (s.name, said.format(name=s.name, key=key, got=list(s.shapes[key]), shards=n, expected=list(shape)))
                )
                break
        if s.layers and s.layers != arch.n_layers:
            said = _("{name} has {layers} layers, params.json says {expected}")
            out.append((s.name, said.format(name=s.name, layers=s.layers, expected=arch.n_layers)))
        elif not s.uniform_layers:
            out.append((s.name, _("{name}'s layers do not all have the same shapes").format(name=s.name)))
    return out


def _declared_vocab(model: ModelDir) -> int:
    """params.json's own vocab_size: -1 when Llama 1/2 leave it to the tokenizer."""
    declared = declared_params(model)
    return declared.vocab_size if declared is not None else -1


def _dims(key: str) -> str:
    return "vocab" if key in ("tok_embeddings.weight", "output.weight") else ""


def _sniffed(files: int, tokenizers: int) -> str:
    return _("{files} and {tokenizers}, sniffed").format(
        files=ngettext("{count} weights file", "{count} weights files", files).format(count=files),
        tokenizers=ngettext("{count} tokenizer", "{count} tokenizers", tokenizers).format(count=tokenizers),
    )


@check(
    id="shard-corrupt",
    summary="A weights or tokenizer file is damaged or is not what its name says",
    severity=Severity.ERROR,
    group=Group.MODEL,
    fixes=("redownload-failed-shards",),
    requires=(MODEL,),
    checked=lambda facts: _sniffed(
        sum(len(m.shards) for m in facts.models), sum(1 for m in facts.models if m.tokenizer)
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
                _("{path}: {problems}.").format(path=model.path, problems=_("; ").join(said for _f, said in problems)),
                path=model.path,
                files=[name for name, _said in problems],
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
    checked=lambda facts: ngettext(
        "the parameters of {count} model folder", "the parameters of {count} model folders", len(facts.models)
    ).format(count=len(facts.models)),
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
            # TRANSLATORS: {error} is a sentence about params.json or config.json, already translated.
            yield params_invalid.finding(_("{error}.").format(error=error), path=model.path)


def _is_llama2_chat_erratum(model: ModelDir) -> bool:
    arch = arch_of(model)
    return (
        model.format == "meta"
        and arch is not None
        and (arch.norm_eps, arch.dim, arch.n_layers, arch.kv_heads) == (1e-06, 4096, 32, 32)
        and model_version(model) == "2"
    )


def _meta_params_checked(folders: int) -> str:
    return ngettext("params.json of {count} folder", "params.json of {count} folders", folders).format(count=folders)


@check(
    id="params-known-bad",
    summary="params.json holds a value Meta later corrected",
    severity=Severity.WARNING,
    group=Group.MODEL,
    fixes=("correct-params-json",),
    requires=(META_MODEL,),
    checked=lambda facts: _meta_params_checked(sum(1 for m in facts.models if m.format == "meta")),
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
                _(
                    "{path}/params.json has norm_eps 1e-06, the value of the first llama-2-7b-chat release; Meta "
                    "corrected it to 1e-05 (meta-llama/llama#771)."
                ).format(path=model.path),
                path=model.path,
                norm_eps=1e-06,
            )


def _two_shards() -> tuple[Shard, ...]:
    return tuple(shard(f"consolidated.0{i}.pth", params=LLAMA2_13B, n_shards=2) for i in range(2))


def _shards_checked(model: ModelDir, facts: Facts) -> str:
    shards = ngettext("{count} shard", "{count} shards", len(model.meta_shards)).format(count=len(model.meta_shards))
    gpus = len(visible_gpus(facts))
    visible = ngettext("{count} visible GPU", "{count} visible GPUs", gpus).format(count=gpus)
    if facts.options.nproc:
        return _("{shards} of {name} against --nproc {nproc} and {gpus}").format(
            shards=shards, name=model.name, nproc=facts.options.nproc, gpus=visible
        )
    return _("{shards} of {name} against {gpus}").format(shards=shards, name=model.name, gpus=visible)


@check(
    id="shards-vs-nproc",
    summary="The number of checkpoint shards does not match the processes or GPUs",
    severity=Severity.ERROR,
    group=Group.MODEL,
    requires=(META_TARGET,),
    checked=lambda facts: _("; ").join(
        _shards_checked(m, facts) for m in targets(facts.models) if m.format == "meta" and m.shards
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
                _(
                    "{path} has {shards} shard(s) but --nproc is {nproc}: Meta's code fails with `Loading a "
                    "checkpoint for MP={shards} but world size is {nproc}`. Run with `torchrun --nproc_per_node "
                    "{shards}`."
                ).format(path=model.path, shards=n, nproc=nproc),
                remedy=_reshard_remedy(model, nproc, facts.platform.shell),
                path=model.path,
                shards=n,
                nproc=nproc,
            )
        gpus = len(visible_gpus(facts))
        if facts.gpu.gpus and n > gpus:
            yield shards_vs_nproc.finding(
                # TRANSLATORS: {hidden} is empty or says which GPUs CUDA_VISIBLE_DEVICES hides.
                _(
                    "{path} has {shards} shards, one per GPU, but this machine shows {gpus} GPU(s){hidden}: process "
                    "{gpus} fails with `CUDA error: invalid device ordinal`. Use `llamadoctor run` (merges the shards "
                    "in one process), the Hugging Face format, or a smaller model."
                ).format(path=model.path, shards=n, gpus=gpus, hidden=hidden_note(facts)),
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
    return (
        _("or re-shard it for {nproc} process(es), then point the code at the new folder:").format(nproc=nproc)
        + f"\n{command}"
    )
