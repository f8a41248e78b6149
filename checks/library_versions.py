"""The transformers and tokenizers installed in the target environment against the Hugging Face folders the
user means to run: releases too old for the model's config.json or tokenizer.json, and a slow tokenizer that
cannot be converted without protobuf."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.checks._libraries import (
    HF_TARGET,
    HF_TOKENIZER_FILES,
    LIBRARIES,
    hf_facts,
    hf_targets,
    hf_tokenizers,
    installed,
    library,
    older,
    pip_install,
    tokenizer_files,
)
from llamadoctor.facts import Facts, HfTokenizerFiles
from llamadoctor.i18n import _
from llamadoctor.llama.hf_support import (
    TOKENIZERS_FOR_PAIR_MERGES,
    TRANSFORMERS_FOR_GQA,
    TRANSFORMERS_FOR_LLAMA3_ROPE,
    transformers_needs,
)
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Severity
from llamadoctor.registry import check
from llamadoctor.testing_files import HF_LLAMA2_7B_CONFIG

# What loading says when transformers is older than the release a need names
_ERRORS = {
    TRANSFORMERS_FOR_LLAMA3_ROPE: "`rope_scaling` must be a dictionary with two fields, `type` and `factor`",
    TRANSFORMERS_FOR_GQA: "size mismatch for model.layers.0.self_attn.k_proj.weight",
}
_UNKNOWN_ARCH = "Transformers does not recognize this architecture"
LLAMA2_70B_CONFIG = {
    **HF_LLAMA2_7B_CONFIG,
    "model_type": "llama",
    "hidden_size": 8192,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
}
VISION_CONFIG = {"model_type": "mllama", "text_config": {"model_type": "mllama_text_model", "rope_scaling": {}}}


@check(
    id="transformers-too-old",
    summary="The installed transformers is older than the model's config.json needs",
    severity=Severity.WARNING,
    group=Group.PYTHON,
    requires=(LIBRARIES, library("transformers"), HF_TARGET),
    checked=lambda facts: _("transformers {version} against {files}").format(
        version=installed(facts, "transformers"), files=", ".join(f"{m.path}/config.json" for m in hf_targets(facts))
    ),
    examples=(
        Healthy(hf_facts()),
        Healthy(hf_facts({"transformers": "4.43.0"})),
        Healthy(hf_facts({"transformers": "4.33.0"}, config=LLAMA2_70B_CONFIG)),
        Inapplicable(hf_facts({"transformers": None}), expect="transformers is not installed"),
        Broken(hf_facts({"transformers": "4.40.2"}), expect="transformers 4.40.2"),
        Broken(hf_facts({"transformers": "4.42.4"}), expect="rope_scaling type `llama3`"),
        Broken(hf_facts({"transformers": "4.30.2"}, config=LLAMA2_70B_CONFIG), expect="8 key/value heads"),
        Broken(hf_facts({"transformers": "4.44.2"}, config=VISION_CONFIG), expect="does not recognize"),
        Broken(hf_facts({"transformers": "4.27.4"}, config={**HF_LLAMA2_7B_CONFIG, "model_type": "llama"})),
    ),
)
def transformers_too_old(facts: Facts) -> Iterator[Finding]:
    """What it checks: each Hugging Face folder to run against the transformers release installed in the target
    environment (read from its metadata): the model_type (llama from 4.28, Llama 3.2 Vision's mllama from 4.45,
    llama4 from 4.51), rope_scaling type llama3 (Llama 3.1 and later, from 4.43) and grouped-query attention
    (fewer key/value heads than heads: Llama 2 70B and every Llama 3, from 4.31).

    Why it matters: an older transformers rejects the config (“`rope_scaling` must be a dictionary with two
    fields”), does not know the architecture (“does not recognize this architecture”), or builds the attention
    with the wrong shapes (“size mismatch for ... k_proj.weight”). vLLM reads the config through transformers
    too.

    How to fix: upgrade transformers with the target interpreter's pip:
    `python -m pip install -U 'transformers>=4.43'`.
    """
    version = installed(facts, "transformers")
    for model in hf_targets(facts):
        needs = [n for n in transformers_needs(model.params or {}) if older(version, n.version)]
        if not needs:
            continue
        newest = needs[0].version
        error = _ERRORS.get(newest, _UNKNOWN_ARCH)
        yield transformers_too_old.finding(
            # TRANSLATORS: {needs} lists what the config uses, in English ("rope_scaling type `llama3`").
            _(
                "transformers {version} is installed in {python}, but {path}/config.json has {needs}, which needs "
                "transformers {newest} or later: loading it with transformers (or vLLM) fails with “{error}”."
            ).format(
                version=version,
                python=facts.python.executable,
                path=model.path,
                needs=" and ".join(n.reason for n in needs),
                newest=newest,
                error=error,
            ),
            remedy=pip_install(facts, f"transformers>={newest}"),
            path=model.path,
            transformers=version,
            needs=newest,
        )


@check(
    id="tokenizers-too-old",
    summary="The installed tokenizers cannot read the model's tokenizer.json",
    severity=Severity.WARNING,
    group=Group.PYTHON,
    requires=(LIBRARIES, library("tokenizers"), HF_TOKENIZER_FILES),
    checked=lambda facts: _("tokenizers {version} against {files}").format(
        version=installed(facts, "tokenizers"), files=", ".join(_merges(t) for t in hf_tokenizers(facts))
    ),
    examples=(
        Healthy(hf_facts()),
        Healthy(hf_facts({"tokenizers": "0.19.1"}, tokenizer=tokenizer_files(merges="strings"))),
        Inapplicable(hf_facts({"tokenizers": None}), expect="tokenizers is not installed"),
        Broken(hf_facts({"tokenizers": "0.19.1"}), expect="tokenizers 0.19.1"),
        Broken(hf_facts({"tokenizers": "0.15.2"}), expect="untagged enum ModelWrapper"),
    ),
)
def tokenizers_too_old(facts: Facts) -> Iterator[Finding]:
    """What it checks: how each Hugging Face folder's tokenizer.json writes its BPE merges, against the
    tokenizers release installed in the target environment. tokenizers 0.20 and later save each merge as a pair
    (["Ġ", "t"]), which older releases cannot parse; re-saved Llama 3 tokenizers are written this way.

    Why it matters: loading the tokenizer stops with “data did not match any variant of untagged enum
    ModelWrapper at line ... column ...”.

    How to fix: upgrade tokenizers and transformers together with the target interpreter's pip:
    `python -m pip install -U transformers 'tokenizers>=0.20'`.
    """
    version = installed(facts, "tokenizers")
    for files in hf_tokenizers(facts):
        if files.merges == "pairs" and older(version, TOKENIZERS_FOR_PAIR_MERGES):
            yield tokenizers_too_old.finding(
                _(
                    "{folder}/tokenizer.json writes its merges as pairs, which tokenizers reads only from {needed}; "
                    "{python} has tokenizers {version}: transformers fails to load the tokenizer with “data did "
                    "not match any variant of untagged enum ModelWrapper”."
                ).format(
                    folder=files.folder,
                    needed=TOKENIZERS_FOR_PAIR_MERGES,
                    python=facts.python.executable,
                    version=version,
                ),
                remedy=pip_install(facts, "transformers", f"tokenizers>={TOKENIZERS_FOR_PAIR_MERGES}"),
                path=files.folder,
                tokenizers=version,
            )


def _merges(files: HfTokenizerFiles) -> str:
    if not files.merges:
        return _("{folder}/tokenizer.json (no merges)").format(folder=files.folder)
    # TRANSLATORS: {kind} is how the merges are written: "pairs" or "strings".
    return _("{folder}/tokenizer.json ({kind} merges)").format(folder=files.folder, kind=files.merges)


def _tokenizer_class(files: HfTokenizerFiles) -> str:
    if not files.tokenizer_class:
        return _("{folder}/tokenizer_config.json (no class)").format(folder=files.folder)
    return f"{files.folder}/tokenizer_config.json ({files.tokenizer_class})"


EARLY_CONVERSION = tokenizer_files(
    folder="/home/ada/llama-7b-hf",
    tokenizer_class="LLaMATokenizer",
    config_bytes=b'{"bos_token": "", "eos_token": "", "model_max_length": 1000000000000000019884624838656, '
    b'"tokenizer_class": "LLaMATokenizer", "unk_token": ""}',
    merges="",
    has_tokenizer_json=False,
    has_tokenizer_model=True,
)


@check(
    id="tokenizer-class-misspelled",
    summary="tokenizer_config.json names LLaMATokenizer, a class transformers never had",
    severity=Severity.WARNING,
    group=Group.MODEL,
    fixes=("rename-tokenizer-class",),
    requires=(LIBRARIES, HF_TOKENIZER_FILES),
    checked=lambda facts: ", ".join(_tokenizer_class(t) for t in hf_tokenizers(facts)),
    examples=(
        Healthy(hf_facts()),
        Healthy(hf_facts(tokenizer=tokenizer_files(tokenizer_class="LlamaTokenizer"))),
        Inapplicable(hf_facts(libraries=None), expect="packages were not read"),
        Broken(hf_facts(path=EARLY_CONVERSION.folder, tokenizer=EARLY_CONVERSION), expect="LlamaTokenizer"),
    ),
)
def tokenizer_class_misspelled(facts: Facts) -> Iterator[Finding]:
    """What it checks: the tokenizer_class in each Hugging Face folder's tokenizer_config.json. Early
    unofficial conversions of Llama 1 (made before transformers 4.28 named the class) wrote `LLaMATokenizer`.

    Why it matters: no transformers release has that class: loading stops with “Tokenizer class
    LLaMATokenizer does not exist or is not currently imported.”

    How to fix: write `LlamaTokenizer` in tokenizer_config.json (`llamadoctor fix` does it, keeping a backup),
    or download an official Hugging Face conversion of the model.
    """
    from llamadoctor.llama.hf_support import MISSPELLED_TOKENIZER_CLASSES

    for files in hf_tokenizers(facts):
        right = MISSPELLED_TOKENIZER_CLASSES.get(files.tokenizer_class or "")
        if right:
            yield tokenizer_class_misspelled.finding(
                _(
                    "{folder}/tokenizer_config.json names the tokenizer class {name}, which transformers does not "
                    "have (it is {right}): loading it with transformers fails with “Tokenizer class {name} does "
                    "not exist or is not currently imported.”"
                ).format(folder=files.folder, name=files.tokenizer_class, right=right),
                path=files.folder,
                tokenizer_class=files.tokenizer_class,
                correct=right,
            )
