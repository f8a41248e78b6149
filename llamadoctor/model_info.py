"""Reading model-folder facts: which Llama a folder is, and its architecture (for checks and fixes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llamadoctor.estimate import Arch, ModelDirError
from llamadoctor.files import ModelDir

LLAMA3_VOCAB = 128256
CODE_LLAMA_VOCAB = 32016


def _num(params: Mapping[str, Any], key: str, default: float = 0.0) -> float:
    try:
        return float(params.get(key, default))
    except (TypeError, ValueError):
        return default


def version_from_params(params: Mapping[str, Any], model: ModelDir | None = None) -> str | None:
    """ "1", "2", "code", "3", "3.1" or "3.2" from Meta's params.json keys and values; None if unclear."""
    vocab = int(_num(params, "vocab_size", -1))
    if vocab == LLAMA3_VOCAB:
        if params.get("use_scaled_rope"):
            return "3.2" if int(_num(params, "dim")) in (2048, 3072) else "3.1"
        return "3"
    if vocab == CODE_LLAMA_VOCAB or _num(params, "rope_theta") == 1e6:
        return "code"
    if vocab > 0 and vocab != 32000:
        return None
    if "n_kv_heads" in params or "ffn_dim_multiplier" in params or _num(params, "norm_eps") == 1e-5:
        return "2"
    if _num(params, "norm_eps") == 1e-6:
        # Llama 1, or the first llama-2-7b-chat params.json (see params-known-bad): Llama 2 weights are bf16
        if model is not None and ("llama-2" in model.name.lower() or _bf16(model)):
            return "2"
        return "1"
    return None


def _bf16(model: ModelDir) -> bool:
    return any("bfloat16" in s.dtypes for s in model.shards)


def version_from_hf_config(config: Mapping[str, Any]) -> str | None:
    vocab = int(_num(config, "vocab_size", -1))
    if vocab == LLAMA3_VOCAB:
        scaling = config.get("rope_scaling") or {}
        if isinstance(scaling, dict) and scaling.get("rope_type") == "llama3":
            return "3.2" if int(_num(config, "hidden_size")) in (2048, 3072) else "3.1"
        return "3"
    if vocab == CODE_LLAMA_VOCAB:
        return "code"
    return "2" if vocab == 32000 else None


def model_version(model: ModelDir) -> str | None:
    if model.params is None:
        return None
    if model.params_file == "config.json":
        return version_from_hf_config(model.params)
    return version_from_params(model.params, model)


def arch_of(model: ModelDir) -> Arch | None:
    """The architecture, or None when the folder's parameters are missing or unusable."""
    if model.params is None:
        return None
    try:
        if model.params_file == "config.json":
            return Arch.from_hf_config(model.params)
        vocab = model.tokenizer.n_words if model.tokenizer and model.tokenizer.n_words else None
        return Arch.from_params(model.params, vocab)
    except ModelDirError:
        return None


def label(version: str | None) -> str:
    return {"code": "Code Llama", None: "an unknown Llama"}.get(version, f"Llama {version}")


def files_list(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
