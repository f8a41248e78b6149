"""The tokenizer `llamadoctor run` will read: a library to read it with, and as many tokens as the model has rows."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator

from llamadoctor.facts import Facts
from llamadoctor.files import ModelDir, Tokenizer
from llamadoctor.i18n import _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Requires, Severity
from llamadoctor.registry import check
from llamadoctor.testing import linux_gpu
from llamadoctor.testing_files import LLAMA3_8B, SP_TOKENIZER, TIKTOKEN_TOKENIZER, hf_model, llama3_model, meta_model

HF_JSON = Tokenizer(
    "/home/ada/Llama-2-7b-chat-hf/tokenizer.json", 1842767, "sentencepiece", 32000, library="tokenizers"
)
READABLE_KINDS = ("sentencepiece", "tiktoken")


def _tokenizers(facts: Facts) -> list[tuple[ModelDir, Tokenizer]]:
    return [(m, m.tokenizer) for m in facts.models if m.tokenizer is not None]


def _no_tokenizer(facts: Facts) -> str:
    return _("no tokenizer found") if facts.models else _("no model folder found")


TOKENIZER = Requires(_tokenizers, _no_tokenizer, probe="files")


def _with_tokenizer(tok: Tokenizer, model: ModelDir | None = None) -> ModelDir:
    return dataclasses.replace(model or hf_model(), tokenizer=tok)


@check(
    id="tokenizer-library-missing",
    summary="The library that reads the model's tokenizer is not installed",
    severity=Severity.ERROR,
    group=Group.MODEL,
    fixes=("install-missing-packages",),
    requires=(TOKENIZER,),
    checked=lambda facts: (
        ", ".join(f"{t.name} ({t.library})" for _model, t in _tokenizers(facts) if t.library)
        or _("no tokenizer in a format llamadoctor reads")
    ),
    examples=(
        Healthy(linux_gpu(models=(_with_tokenizer(HF_JSON),))),
        Inapplicable(linux_gpu(), expect="no model folder"),
        Broken(
            linux_gpu(models=(_with_tokenizer(dataclasses.replace(HF_JSON, library_missing=True)),)),
            expect="tokenizers",
        ),
    ),
)
def tokenizer_library_missing(facts: Facts) -> Iterator[Finding]:
    """What it checks: that the Python running llamadoctor can import the library that reads each model
    folder's tokenizer: sentencepiece for a Llama 1/2 tokenizer.model, tiktoken for Llama 3's, tokenizers for
    a Hugging Face folder that ships only tokenizer.json.

    Why it matters: `llamadoctor run` reads the tokenizer in this Python; without the library it stops after
    the checks, before anything is loaded.

    How to fix: install the run extra into the Python that runs llamadoctor: `pip install 'llamadoctor[run]'`.
    """
    for model, tok in _tokenizers(facts):
        if tok.library and tok.library_missing:
            yield tokenizer_library_missing.finding(
                _(
                    "{path} is read with the `{library}` library, which {python} cannot import: `llamadoctor run` "
                    "cannot read this model's tokenizer."
                ).format(path=tok.path, library=tok.library, python=sys.executable),
                remedy=f"{sys.executable} -m pip install 'llamadoctor[run]'",
                path=model.path,
                library=tok.library,
                python=sys.executable,
                install=[tok.library],
            )


def _model_vocab(model: ModelDir) -> int:
    """vocab_size from params.json or config.json; 0 when it is not given (Llama 1/2's params.json says -1)."""
    value = (model.params or {}).get("vocab_size")
    return value if isinstance(value, int) and value > 0 else 0


def _llama3_hf(tok: Tokenizer) -> ModelDir:
    config = {**(hf_model().params or {}), "vocab_size": LLAMA3_8B["vocab_size"]}
    return _with_tokenizer(tok, hf_model("/home/ada/Meta-Llama-3-8B-Instruct", params=config))


def _vocab_checked(model: ModelDir, tok: Tokenizer) -> str:
    vocab = _model_vocab(model)
    if vocab:
        return _("{name}: {tokens} tokens, the model {vocab}").format(name=tok.name, tokens=tok.n_words, vocab=vocab)
    return _("{name}: {tokens} tokens, the model its weights").format(name=tok.name, tokens=tok.n_words)


@check(
    id="tokenizer-vocab-mismatch",
    summary="The tokenizer has a different number of tokens than the model",
    severity=Severity.ERROR,
    group=Group.MODEL,
    requires=(TOKENIZER,),
    checked=lambda facts: _("; ").join(_vocab_checked(m, t) for m, t in _tokenizers(facts) if t.n_words),
    examples=(
        Healthy(linux_gpu(models=(_with_tokenizer(HF_JSON),))),
        Healthy(linux_gpu(models=(llama3_model(),))),
        Healthy(linux_gpu(models=(meta_model(tokenizer=SP_TOKENIZER),))),
        Inapplicable(linux_gpu(), expect="no model folder"),
        Broken(linux_gpu(models=(_llama3_hf(HF_JSON),)), expect="128256"),
        Broken(linux_gpu(models=(_with_tokenizer(TIKTOKEN_TOKENIZER),)), expect="32000"),
    ),
)
def tokenizer_vocab_mismatch(facts: Facts) -> Iterator[Finding]:
    """What it checks: the number of tokens of each folder's tokenizer (tokenizer.model or tokenizer.json)
    against the vocab_size of its params.json or config.json. (A Llama 1/2 params.json says -1; then the
    embedding shapes of the shards are compared by shard-corrupt.)

    Why it matters: a tokenizer from another model gives ids the embedding table does not have or means
    something else by them: `assert model_args.vocab_size == tokenizer.n_words`, `index out of range in self`,
    or fluent nonsense.

    How to fix: use the tokenizer that came with the model: download tokenizer.model / tokenizer.json again
    from the same release as the weights.
    """
    for model, tok in _tokenizers(facts):
        vocab = _model_vocab(model)
        if tok.kind in READABLE_KINDS and tok.n_words and vocab and tok.n_words != vocab:
            yield tokenizer_vocab_mismatch.finding(
                _(
                    "{path} has {tokens} tokens but {folder}/{params} says vocab_size {vocab}: the tokenizer comes "
                    "from another model (`assert model_args.vocab_size == tokenizer.n_words`)."
                ).format(path=tok.path, tokens=tok.n_words, folder=model.path, params=model.params_file, vocab=vocab),
                path=model.path,
                tokenizer_tokens=tok.n_words,
                vocab_size=vocab,
            )
