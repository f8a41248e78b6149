"""Model folders: complete for the tools that will read them, and of one Llama generation throughout."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from llamadoctor.checks._requires import MODEL
from llamadoctor.facts import Facts
from llamadoctor.files import ModelDir, targets
from llamadoctor.i18n import N_, _, ngettext
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Severity
from llamadoctor.model_info import files_list, label, model_version
from llamadoctor.registry import check
from llamadoctor.testing import linux_gpu
from llamadoctor.testing_files import (
    LLAMA2_7B,
    LLAMA31_8B,
    SP_TOKENIZER,
    TIKTOKEN_TOKENIZER,
    hf_model,
    llama3_model,
    meta_model,
    repo_with,
)

META_CODE = ("llama", "llama1", "llama3", "codellama", "llama-models")


def _meta_problems(model: ModelDir) -> list[str]:
    problems = []
    if model.params_error:
        problems.append(
            # TRANSLATORS: {error} is what is wrong with the file, in English ("is empty").
            _("params.json {error} (the download failed: `JSONDecodeError` when loading)").format(
                error=model.params_error
            )
        )
    elif model.params_file != "params.json":
        problems.append(_("params.json is missing"))
    elif model.params is not None and not {"dim", "n_layers", "n_heads"} <= set(model.params):
        missing = sorted({"dim", "n_layers", "n_heads"} - set(model.params))
        problems.append(_("params.json lacks {keys}").format(keys=", ".join(missing)))
    if not model.shards:
        problems.append(
            _("there is no consolidated.*.pth (`no checkpoint files found in {name}/`)").format(name=model.name)
        )
    if model.tokenizer is None:
        problems.append(_("tokenizer.model is neither in it nor beside it (`AssertionError: tokenizer.model`)"))
    return problems


def _hf_problems(model: ModelDir) -> list[str]:
    problems = []
    if model.params_error:
        problems.append(_("config.json {error}").format(error=model.params_error))
    elif model.params_file is None:
        problems.append(_("config.json is missing (`does not appear to have a file named config.json`)"))
    if not model.shards:
        problems.append(_("it has no *.safetensors or pytorch_model*.bin weights"))
    missing = list(model.details.get("index_missing", ()))
    if missing:
        problems.append(_("weights listed in its index are missing: {files}").format(files=files_list(missing)))
    outside = list(model.details.get("index_outside", ()))
    if outside:
        problems.append(
            _(
                "its index names files outside the model folder, which are never opened: {files} (a damaged or "
                "tampered download)"
            ).format(files=files_list(outside))
        )
    if not {"tokenizer.json", "tokenizer.model"} & set(model.files):
        problems.append(_("it has no tokenizer.json or tokenizer.model"))
    if model.details.get("tokenizer_json_error"):
        problems.append(_("tokenizer.json {error}").format(error=model.details["tokenizer_json_error"]))
    return problems


def _for_meta_code(model: ModelDir, facts: Facts) -> bool:
    """Meta's reference code will read this folder: it is a target and --repo is a clone of Meta's code."""
    return bool(facts.repo and facts.repo.flavour in META_CODE and model in targets(facts.models))


def _looks_meant_for_hf(model: ModelDir) -> bool:
    hf_files = {"tokenizer_config.json", "generation_config.json", "special_tokens_map.json"}
    return model.source == "hf-cache" or model.name.lower().endswith("-hf") or bool(hf_files & set(model.files))


def _problems(model: ModelDir, facts: Facts) -> list[str]:
    if model.format == "missing" or model.error:
        # TRANSLATORS: {error} is what is wrong with the folder, in English ("does not exist").
        return [_("it {error}").format(error=model.error)]
    if model.format == "meta":
        problems = _meta_problems(model)
        if (
            _looks_meant_for_hf(model)
            and not (facts.repo and facts.repo.flavour in META_CODE)
            and not model.details.get("hf_copy")
        ):
            problems.append(
                _(
                    "it is in Meta's format but looks meant for Hugging Face tools, which fail with "
                    "`does not appear to have a file named config.json`: use the `-hf` repository or convert it"
                )
            )
        return problems
    if model.format in ("hf", "meta-in-hf"):
        problems = _hf_problems(model)
        if _for_meta_code(model, facts):
            if model.format == "meta-in-hf":
                problems.append(
                    _(
                        "Meta's code needs the Meta files: use --ckpt_dir {path}/original (this folder gives "
                        "`no checkpoint files found in {name}/`)"
                    ).format(path=model.path, name=model.name)
                )
            else:
                problems.append(
                    _(
                        "it is in Hugging Face format, but Meta's code needs params.json and consolidated.*.pth "
                        "(`FileNotFoundError: ... params.json`): use the Meta download or the `original/` folder "
                        "of the HF repository"
                    )
                )
        return problems
    if model.format == "parent":
        inner = ", ".join(f"{d}/" for d in model.subdirs)
        return [
            _(
                "it holds model folders ({inner}) rather than a model: the old Llama 1 layout. Point Meta's code "
                "and the current converter at {path}/{first}; old convert_llama_weights_to_hf.py wanted "
                "--input_dir with --model_size instead"
            ).format(inner=inner, path=model.path, first=model.subdirs[0])
        ]
    if model.source == "given":
        return [_("it has neither params.json (Meta format) nor config.json (Hugging Face format)")]
    return []


@check(
    id="model-dir-incomplete",
    summary="A model folder is missing files the tools need",
    severity=Severity.ERROR,
    group=Group.MODEL,
    # convert-to-hf plans something only for a complete Meta folder that Hugging Face tools were given.
    fixes=("redownload-failed-shards", "convert-to-hf"),
    requires=(MODEL,),
    checked=lambda facts: ngettext(
        "the files of {count} model folder", "the files of {count} model folders", len(facts.models)
    ).format(count=len(facts.models)),
    examples=(
        Inapplicable(linux_gpu(), expect="no model folder"),
        Healthy(linux_gpu(models=(meta_model(),))),
        Healthy(linux_gpu(models=(hf_model(),))),
        Broken(linux_gpu(models=(meta_model(tokenizer=None),)), expect="tokenizer.model"),
        Broken(linux_gpu(models=(meta_model(shards=()),)), expect="no checkpoint files found"),
        Broken(linux_gpu(repo=repo_with(), models=(hf_model(),)), expect="Hugging Face format"),
        Broken(linux_gpu(models=(meta_model(path="/home/ada/Llama-2-7b-hf"),)), expect="config.json"),
        Broken(
            linux_gpu(models=(dataclasses.replace(hf_model(), params=None, params_file=None),)),
            expect="config.json is missing",
        ),
    ),
)
def model_dir_incomplete(facts: Facts) -> Iterator[Finding]:
    """What it checks: that each model folder has what the tool reading it needs. Meta format: params.json
    (valid), consolidated.*.pth and tokenizer.model (inside, or beside it as Llama 2's download.sh leaves it).
    Hugging Face format: config.json, all weights its index lists, a tokenizer. It also catches a Hugging Face
    folder handed to Meta's code, a Meta folder meant for Hugging Face tools, the `original/` folder of an HF
    repo, and the old Llama 1 layout with the model in `7B/`.

    Why it matters: the failures come late and read unrelated: `no checkpoint files found in llama-2-7b/`,
    `AssertionError: tokenizer.model`, `OSError: ... does not appear to have a file named config.json`,
    `FileNotFoundError: ... 7B/params.json`, a JSONDecodeError from a 0-byte params.json.

    How to fix: point the tool at the right folder (the message names it); re-download the missing files with
    a fresh link; for Hugging Face tools use the `-hf` repository or convert the Meta files.
    """
    for model in facts.models:
        problems = _problems(model, facts)
        if problems:
            yield model_dir_incomplete.finding(
                # TRANSLATORS: {problems} are the messages about one folder, joined by the separator "; ".
                _("{path}: {problems}.").format(path=model.path, problems=_("; ").join(problems)),
                path=model.path,
                format=model.format,
            )
        elif model.details.get("hf_copy") and _looks_meant_for_hf(model):
            yield model_dir_incomplete.finding(
                _("{path} is in Meta's format; give Hugging Face tools its converted copy {copy}.").format(
                    path=model.path, copy=model.details["hf_copy"]
                ),
                severity=Severity.INFO,
                fixes=(),
                path=model.path,
                format=model.format,
            )


def _code_mismatch(flavour: str | None, version: str | None) -> str | None:
    if flavour in ("llama", "llama1", "codellama") and version in ("3", "3.1", "3.2"):
        return _(
            "--repo is Meta's {flavour} code (SentencePiece), which cannot load {model}: `could not parse "
            "ModelProto` and size mismatches; use meta-llama/llama-models or the HF format"
        ).format(flavour=flavour, model=label(version))
    if flavour == "llama" and version == "code":
        return _("Meta's Llama 2 code rejects Code Llama's params.json: `unexpected keyword argument 'rope_theta'`")
    if flavour == "llama3" and version in ("3.1", "3.2"):
        return _(
            "meta-llama/llama3 code cannot read {model}'s params.json: `ModelArgs.__init__() got an unexpected "
            "keyword argument 'use_scaled_rope'`; use meta-llama/llama-models (do not delete the key: the "
            "long-context RoPE scaling would silently go)"
        ).format(model=label(version))
    if flavour in ("llama3", "llama-models") and version in ("1", "2", "code"):
        return _(
            "--repo is Meta's Llama 3 code (tiktoken), which cannot read {model}'s SentencePiece tokenizer: "
            "`not enough values to unpack`; use meta-llama/llama for Llama 2"
        ).format(model=label(version))
    return None


def _mismatches(model: ModelDir, facts: Facts) -> list[str]:
    version = model_version(model)
    tok = model.tokenizer
    out = []
    if tok and tok.kind == "tiktoken" and version in ("1", "2", "code"):
        out.append(
            _(
                "its {tokenizer} is tiktoken (Llama 3) but {params} is {model}'s: Llama 2 code fails with "
                "`RuntimeError: Internal: could not parse ModelProto`"
            ).format(tokenizer=tok.name, params=model.params_file or "params.json", model=label(version))
        )
    elif tok and tok.kind == "sentencepiece" and version in ("3", "3.1", "3.2"):
        if tok.in_parent:
            text = _(
                "its {tokenizer} (the one beside the folder) is SentencePiece (Llama 1/2) but {params} is "
                "{model}'s: tiktoken fails with `not enough values to unpack` and Meta's Llama 3 code with "
                "`assert model_args.vocab_size == tokenizer.n_words`"
            )
        else:
            text = _(
                "its {tokenizer} is SentencePiece (Llama 1/2) but {params} is {model}'s: tiktoken fails with "
                "`not enough values to unpack` and Meta's Llama 3 code with "
                "`assert model_args.vocab_size == tokenizer.n_words`"
            )
        out.append(text.format(tokenizer=tok.name, params=model.params_file or "params.json", model=label(version)))
    if model in targets(facts.models) and facts.repo and model.format == "meta":
        mismatch = _code_mismatch(facts.repo.flavour, version)
        if mismatch:
            out.append(mismatch)
    return out


@check(
    id="model-version-mismatch",
    summary="Model files, tokenizer or code are from different Llama generations",
    severity=Severity.ERROR,
    group=Group.MODEL,
    requires=(MODEL,),
    checked=lambda facts: _("params.json, tokenizer and code agree: {models}").format(
        models=", ".join(f"{m.name} ({label(model_version(m))})" for m in facts.models)
    ),
    examples=(
        Healthy(linux_gpu(models=(meta_model(),))),
        Healthy(linux_gpu(models=(llama3_model(),), repo=repo_with(flavour="llama3"))),
        Inapplicable(linux_gpu(repo=repo_with(flavour="llama3")), expect="no model folder"),
        Broken(linux_gpu(models=(meta_model(tokenizer=TIKTOKEN_TOKENIZER),)), expect="could not parse ModelProto"),
        Broken(linux_gpu(models=(llama3_model(tokenizer=SP_TOKENIZER),)), expect="not enough values to unpack"),
        Broken(
            linux_gpu(models=(llama3_model(LLAMA31_8B),), repo=repo_with(flavour="llama3")), expect="use_scaled_rope"
        ),
        Broken(
            linux_gpu(
                models=(dataclasses.replace(meta_model(), params={**LLAMA2_7B, "rope_theta": 1e6}),),
                repo=repo_with(flavour="llama"),
            ),
            expect="rope_theta",
        ),
    ),
)
def model_version_mismatch(facts: Facts) -> Iterator[Finding]:
    """What it checks: which Llama (1, 2, Code Llama, 3, 3.1, 3.2) each folder is, from params.json (keys such
    as n_kv_heads, rope_theta, use_scaled_rope, vocab_size 128256) and the tokenizer's format (SentencePiece
    protobuf for 1/2, tiktoken text for 3.x), and whether the tokenizer and Meta's code in --repo match it.

    Why it matters: each generation's code rejects the others' files with errors that do not name the cause:
    `could not parse ModelProto`, `unexpected keyword argument 'use_scaled_rope'` or `'rope_theta'`,
    `not enough values to unpack`, size mismatches of tok_embeddings (128256 vs 32000).

    How to fix: keep each model's own tokenizer.model with it, and use the matching code: meta-llama/llama for
    Llama 2, meta-llama/llama3 for Llama 3, meta-llama/llama-models for 3.1/3.2 (or the HF format).
    """
    for model in facts.models:
        problems = _mismatches(model, facts)
        if problems:
            yield model_version_mismatch.finding(
                _("{path} ({version}): {problems}.").format(
                    path=model.path, version=label(model_version(model)), problems=_("; ").join(problems)
                ),
                path=model.path,
                version=model_version(model),
            )


@check(
    id="model-files-unchecked",
    summary="The model files could not be inspected",
    severity=Severity.ERROR,
    group=Group.MODEL,
    checked=N_("the probe of the model folders, download.sh and Meta's code finished"),
    examples=(
        Healthy(linux_gpu(models=(meta_model(),))),
        Broken(linux_gpu(models=(), probe_errors={"files": "ZeroDivisionError: division by zero"}), expect="bug"),
    ),
)
def model_files_unchecked(facts: Facts) -> Iterator[Finding]:
    """What it checks: that the probe reading the model folders, download.sh and Meta's code finished. When it
    fails, none of the folders is in the report, so no other check can say anything about them.

    Why it matters: a report without the model folders would read as if they were fine, while a damaged
    shard or a missing tokenizer still stops Llama from running.

    How to fix: this is a bug in llamadoctor: report it with the message; `--no-hash`, or pointing --repo and
    --model-dir at fewer folders, may get a report meanwhile.
    """
    error = facts.probe_errors.get("files")
    if error:
        yield model_files_unchecked.finding(
            _(
                "the model folders could not be inspected ({error}); this is a bug in llamadoctor, please report "
                "it. No model file was checked."
            ).format(error=error),
            error=error,
        )
