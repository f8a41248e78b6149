"""llamadoctor's own quantized model folder, written by `convert --quantize int8|int4`, as its config.json
names it: what `check`, `estimate` and `run` read to know a folder holds stored int8 or int4 codes.

The config is a Hugging Face config.json whose `model_type` and `architectures` no other tool knows, so
transformers, vLLM and llama.cpp's converter refuse the folder naming the format, rather than loading its
codes as if they were weights; `quantization_config` says how the codes are stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llamadoctor.llama.memory import INT4_GROUP, QUANTIZATIONS

FORMAT_VERSION = 1
METHOD_PREFIX = "llamadoctor-"
ARCHITECTURE = {"int8": "LlamadoctorInt8LlamaForCausalLM", "int4": "LlamadoctorInt4LlamaForCausalLM"}


def quant_method(kind: str) -> str:
    return f"{METHOD_PREFIX}{kind}"


def quantization_config(kind: str, source: str, chat: bool) -> dict[str, Any]:
    """The config.json entries of a folder quantized to `kind`; q/k rows stay in Meta's rotary layout."""
    return {
        "model_type": quant_method(kind),
        "architectures": [ARCHITECTURE[kind]],
        "quantization_config": {
            "quant_method": quant_method(kind),
            "format_version": FORMAT_VERSION,
            "bits": 8 if kind == "int8" else 4,
            "group_size": INT4_GROUP if kind == "int4" else 0,
            "tables": "int8",  # the embedding and the output layer
            "rotary_layout": "meta",
            "source": source,
            "chat": chat,
        },
    }


def stored_method(config: Mapping[str, Any] | None) -> str | None:
    """The `quant_method` of a llamadoctor quantized folder's config (any version), else None."""
    quant = config.get("quantization_config") if isinstance(config, Mapping) else None
    method = quant.get("quant_method") if isinstance(quant, Mapping) else None
    return method if isinstance(method, str) and method.startswith(METHOD_PREFIX) else None


def folder_quantization(config: Mapping[str, Any] | None) -> str | None:
    """ "int8" or "int4" when `config` (a parsed config.json) is a llamadoctor quantized folder's, else None."""
    method = stored_method(config)
    kind = method[len(METHOD_PREFIX) :] if method else None
    return kind if kind in QUANTIZATIONS else None


def is_chat(config: Mapping[str, Any] | None) -> bool:
    """Whether the folder was converted from a chat (or instruct) model."""
    quant = config.get("quantization_config") if isinstance(config, Mapping) else None
    return isinstance(quant, Mapping) and quant.get("chat") is True
