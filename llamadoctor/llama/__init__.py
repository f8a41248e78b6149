"""What a Llama is, without torch: its parameters (validated), generation, context length, tokenizer kind,
tensor names and shard splits, and the memory it needs. The doctor's checks, `estimate`, the runner, its
preflight and the converter all read these; none keeps its own copy."""

from __future__ import annotations

from llamadoctor.llama.layout import (
    heads_split_over,
    hf_key_from_meta,
    meta_code_runs,
    meta_key_from_hf,
    shard_shapes,
    shards_spread_over,
    split_dim,
)
from llamadoctor.llama.memory import (
    DTYPE_BYTES,
    QUANTIZATIONS,
    Estimate,
    default_dtype,
    dtype_name,
    estimate,
    fitting_quantization,
    kv_cache_bytes,
    ways_out,
    weight_bytes,
)
from llamadoctor.llama.params import LLAMA31_ROPE, LlamaParams, ParamsError, from_hf_config, from_meta_params
from llamadoctor.llama.version import (
    CONTEXT,
    TOKENIZER_KIND,
    VERSIONS,
    Evidence,
    context_length,
    detect_version,
    label,
)

__all__ = [
    "CONTEXT",
    "DTYPE_BYTES",
    "LLAMA31_ROPE",
    "QUANTIZATIONS",
    "TOKENIZER_KIND",
    "VERSIONS",
    "Estimate",
    "Evidence",
    "LlamaParams",
    "ParamsError",
    "context_length",
    "default_dtype",
    "detect_version",
    "dtype_name",
    "estimate",
    "fitting_quantization",
    "from_hf_config",
    "from_meta_params",
    "heads_split_over",
    "hf_key_from_meta",
    "kv_cache_bytes",
    "label",
    "meta_code_runs",
    "meta_key_from_hf",
    "shard_shapes",
    "shards_spread_over",
    "split_dim",
    "ways_out",
    "weight_bytes",
]
