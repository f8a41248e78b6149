"""What a model folder's facts say about its Llama: parameters, generation, context (for checks and fixes).

The knowledge itself lives in `llamadoctor.llama`; this module only hands it what the file probe saw.
"""

from __future__ import annotations

from llamadoctor.files import ModelDir
from llamadoctor.i18n import _
from llamadoctor.llama import (
    TOKENIZER_KIND,
    Evidence,
    LlamaParams,
    ParamsError,
    context_length,
    detect_version,
    from_hf_config,
    from_meta_params,
    label,
)
from llamadoctor.llama.version import VOCAB, dtype_names

__all__ = [
    "arch_of",
    "declared_params",
    "evidence_of",
    "files_list",
    "label",
    "model_context",
    "model_version",
    "params_of",
]


def evidence_of(model: ModelDir) -> Evidence:
    """Everything besides params.json that tells the generation, as the file probe saw it."""
    listed = tuple(
        entry.name
        for checklist in model.checklists
        if checklist.path.replace("\\", "/").rsplit("/", 1)[-1] == "checklist.chk"
        for entry in checklist.entries
    )
    dtypes = dtype_names(d for s in model.shards for d in s.dtypes)
    return Evidence(path=model.path, checklist=listed, shard_dtypes=dtypes)


def declared_params(model: ModelDir) -> LlamaParams | None:
    """The parameters exactly as the folder's file states them (Meta's vocab_size may be -1); None without
    a parameters file. Raises ParamsError when the values are not a Llama's."""
    if model.params is None:
        return None
    if model.params_file == "config.json":
        return from_hf_config(model.params, f"{model.path}/config.json")
    return from_meta_params(model.params, f"{model.path}/params.json")


def params_of(model: ModelDir) -> LlamaParams | None:
    """The parameters with Meta's vocab_size -1 filled in: the tokenizer's size when the tokenizer is of the
    generation's kind, else the generation's usual size. Raises ParamsError like `declared_params`."""
    params = declared_params(model)
    if params is None or params.vocab_size > 0:
        return params
    version = detect_version(params, evidence_of(model))
    tok = model.tokenizer
    if tok and tok.n_words and tok.kind == TOKENIZER_KIND[version]:
        return params.with_vocab(tok.n_words)
    return params.with_vocab(VOCAB[version])


def arch_of(model: ModelDir) -> LlamaParams | None:
    """The parameters, or None when they are missing or invalid (the params-invalid check reports those)."""
    try:
        return params_of(model)
    except ParamsError:
        return None


def model_version(model: ModelDir) -> str | None:
    try:
        params = declared_params(model)
    except ParamsError:
        return None
    return None if params is None else detect_version(params, evidence_of(model))


def model_context(model: ModelDir) -> int | None:
    """Tokens the model was trained for, None when its parameters are unknown."""
    version = model_version(model)
    params = arch_of(model)
    return None if version is None or params is None else context_length(version, params)


def files_list(names: list[str], limit: int = 6) -> str:
    shown = _(", ").join(names[:limit])
    if len(names) <= limit:
        return shown
    # TRANSLATORS: {names} lists the first few files by name.
    return _("{names} and {count} more").format(names=shown, count=len(names) - limit)
