"""The params.json files Meta published, as data: what sizing advice ("the largest Llama that fits") counts;
and the md5s of each release's files as Meta's published checklists list them (`data/meta_checklists.json`), which
identify a folder that came without its checklist.chk.

Llama 1/2 leave vocab_size to the tokenizer (-1): their SentencePiece has 32,000 pieces. Llama 3.2 1B and 3B
tie the output to the embedding (their HF configs say so), which their parameter counts reflect.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Optional

from llamadoctor.llama.params import LlamaParams, from_meta_params
from llamadoctor.llama.version import LLAMA_VOCAB

_LLAMA2_7B = {"dim": 4096, "multiple_of": 256, "n_heads": 32, "n_layers": 32, "norm_eps": 1e-05, "vocab_size": -1}
_LLAMA3_8B = {
    "dim": 4096,
    "n_layers": 32,
    "n_heads": 32,
    "n_kv_heads": 8,
    "vocab_size": 128256,
    "multiple_of": 1024,
    "ffn_dim_multiplier": 1.3,
    "norm_eps": 1e-05,
    "rope_theta": 500000.0,
}
_LLAMA32_1B = {
    "dim": 2048,
    "n_layers": 16,
    "n_heads": 32,
    "n_kv_heads": 8,
    "vocab_size": 128256,
    "ffn_dim_multiplier": 1.5,
    "multiple_of": 256,
    "norm_eps": 1e-05,
    "rope_theta": 500000.0,
    "use_scaled_rope": True,
}

PARAMS_JSON: Mapping[str, Mapping[str, Any]] = {
    "Llama 1 7B": {**_LLAMA2_7B, "norm_eps": 1e-06},
    "Llama 2 7B": _LLAMA2_7B,
    "Llama 2 13B": {**_LLAMA2_7B, "dim": 5120, "n_heads": 40, "n_layers": 40},
    "Llama 2 70B": {
        **_LLAMA2_7B,
        "dim": 8192,
        "multiple_of": 4096,
        "ffn_dim_multiplier": 1.3,
        "n_heads": 64,
        "n_kv_heads": 8,
        "n_layers": 80,
    },
    "Llama 3 8B": _LLAMA3_8B,
    "Llama 3 70B": {**_LLAMA3_8B, "dim": 8192, "n_layers": 80, "n_heads": 64, "multiple_of": 4096},
    "Llama 3.1 8B": {**_LLAMA3_8B, "use_scaled_rope": True},
    "Llama 3.2 1B": _LLAMA32_1B,
    "Llama 3.2 3B": {**_LLAMA32_1B, "dim": 3072, "n_layers": 28, "n_heads": 24, "ffn_dim_multiplier": 1.0},
}
TIED = ("Llama 3.2 1B", "Llama 3.2 3B")


def release(name: str) -> LlamaParams:
    """The parameters of a published release, by its name ("Llama 2 7B")."""
    params = from_meta_params(PARAMS_JSON[name], f"{name} params.json")
    if params.vocab_size <= 0:
        params = params.with_vocab(LLAMA_VOCAB)
    return dataclasses.replace(params, tie_embeddings=name in TIED)


@dataclass(frozen=True)
class PublishedChecklist:
    """One release's checklist.chk as Meta published it: file name -> md5, and where that copy was read."""

    name: str  # "Llama 2 7B"
    release: str  # "llama-1", "llama-2"
    variant: str  # "base" or "chat"
    source: str
    files: Mapping[str, str]


@cache
def published_checklists() -> tuple[PublishedChecklist, ...]:
    text = (resources.files("llamadoctor") / "data" / "meta_checklists.json").read_text("utf-8")
    return tuple(
        PublishedChecklist(r["name"], r["release"], r["variant"], r["source"], dict(r["files"]))
        for r in json.loads(text)["releases"]
    )


def identify(params_md5: str) -> Optional[PublishedChecklist]:
    """The release whose published params.json has this md5: each release's params.json differs."""
    return next((c for c in published_checklists() if c.files.get("params.json") == params_md5), None)
