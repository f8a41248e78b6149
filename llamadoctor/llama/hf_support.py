"""The first releases of transformers and tokenizers that can read what a Llama folder on the Hugging Face hub
holds: its architecture, its RoPE scaling, grouped-query attention, its tokenizer.json.

Each figure comes from the release notes of the library and from the failures users reported with the release
before it (`rope_scaling must be a dictionary with two fields` below 4.43, `does not recognize this
architecture` for mllama below 4.45, `untagged enum ModelWrapper` for pair merges below tokenizers 0.20).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from llamadoctor.llama.quantized import stored_method

# Model folder formats (llamadoctor.files.ModelDir.format) that transformers loads from config.json
HF_FORMATS = ("hf", "meta-in-hf")
# config.json's model_type -> the first transformers release that has the architecture
TRANSFORMERS_FOR_MODEL_TYPE: Mapping[str, str] = {
    "llama": "4.28.0",
    "mllama": "4.45.0",  # Llama 3.2 Vision
    "llama4": "4.51.0",
    "llama4_text": "4.51.0",
}
TRANSFORMERS_FOR_LLAMA3_ROPE = "4.43.0"  # rope_scaling {"rope_type": "llama3"}: Llama 3.1 and later
TRANSFORMERS_FOR_GQA = "4.31.0"  # num_key_value_heads below num_attention_heads: Llama 2 70B, every Llama 3
TOKENIZERS_FOR_PAIR_MERGES = "0.20.0"  # tokenizer.json merges written as ["a", "b"] instead of "a b"
# What the early, unofficial conversions wrote in tokenizer_config.json, and the class transformers has.
MISSPELLED_TOKENIZER_CLASSES: Mapping[str, str] = {
    "LLaMATokenizer": "LlamaTokenizer",
    "LLaMATokenizerFast": "LlamaTokenizerFast",
}


def transformers_loads(folder_format: str, config: Optional[Mapping[str, Any]]) -> bool:
    """Whether transformers would load a folder of this format and config.json (llamadoctor's own quantized
    folders it refuses)."""
    return folder_format in HF_FORMATS and stored_method(config) is None


@dataclass(frozen=True)
class Need:
    """A transformers release a model's config.json needs, and why."""

    version: str
    reason: str  # "model_type `mllama`", "rope_scaling type `llama3`"


def _rope_type(config: Mapping[str, Any]) -> Optional[str]:
    rope = config.get("rope_scaling")
    if not isinstance(rope, Mapping):
        return None
    kind = rope.get("rope_type", rope.get("type"))
    return kind if isinstance(kind, str) else None


def _text_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The language model's part of a config: a vision model keeps it under text_config."""
    text = config.get("text_config")
    return text if isinstance(text, Mapping) else config


def transformers_needs(config: Mapping[str, Any]) -> list[Need]:
    """Every transformers release config.json needs, the newest first."""
    from packaging.version import Version

    needs = []
    model_type = config.get("model_type")
    if isinstance(model_type, str) and model_type in TRANSFORMERS_FOR_MODEL_TYPE:
        needs.append(Need(TRANSFORMERS_FOR_MODEL_TYPE[model_type], f"model_type `{model_type}`"))
    text = _text_config(config)
    if _rope_type(text) == "llama3":
        needs.append(Need(TRANSFORMERS_FOR_LLAMA3_ROPE, "rope_scaling type `llama3` (Llama 3.1 and later)"))
    heads, kv_heads = text.get("num_attention_heads"), text.get("num_key_value_heads")
    if isinstance(heads, int) and isinstance(kv_heads, int) and 0 < kv_heads < heads:
        needs.append(
            Need(TRANSFORMERS_FOR_GQA, f"grouped-query attention ({kv_heads} key/value heads for {heads} heads)")
        )
    return sorted(needs, key=lambda n: Version(n.version), reverse=True)
