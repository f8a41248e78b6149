"""One description of a Llama's shape, read from Meta's params.json or a Hugging Face config.json.

Both formats describe the same network; `ModelArgs` is what the model, the loader, the memory estimate and
the converter share. Field names follow Meta's params.json so a Meta file maps one to one.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

# Llama 3.1 scaled RoPE constants (Meta hard-codes them; HF stores them in `rope_scaling`).
LLAMA31_ROPE = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position": 8192}


@dataclass(frozen=True)
class ModelArgs:
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int | None = None
    vocab_size: int = -1
    multiple_of: int = 256
    ffn_dim_multiplier: float | None = None
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    use_scaled_rope: bool = False
    rope_scale_factor: float = 8.0
    # HF gives intermediate_size directly; Meta derives it (see `hidden_dim`).
    ffn_hidden_dim: int | None = None
    tie_embeddings: bool = False
    # Meta checkpoints rotate interleaved pairs (2i, 2i+1); HF rotates halves (i, i + head_dim/2) because its
    # converter permutes q/k rows. The model supports both so neither format needs a copy of wq/wk.
    rope_interleaved: bool = True
    max_position: int | None = None

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def hidden_dim(self) -> int:
        """FFN width: Meta's rule `multiple_of * ceil(ffn_dim_multiplier * int(8*dim/3) / multiple_of)`."""
        if self.ffn_hidden_dim is not None:
            return self.ffn_hidden_dim
        hidden = int(2 * (4 * self.dim) / 3)
        if self.ffn_dim_multiplier is not None:
            hidden = int(self.ffn_dim_multiplier * hidden)
        return self.multiple_of * math.ceil(hidden / self.multiple_of)

    def with_vocab(self, vocab_size: int) -> ModelArgs:
        return dataclasses.replace(self, vocab_size=vocab_size)

    def n_params(self) -> int:
        """Exact parameter count (untied embedding + output unless tied)."""
        d, h, kv = self.dim, self.head_dim, self.kv_heads
        attn = d * self.n_heads * h * 2 + d * kv * h * 2
        layer = attn + 3 * d * self.hidden_dim + 2 * d
        emb = self.vocab_size * d * (1 if self.tie_embeddings else 2)
        return self.n_layers * layer + emb + d


_META_KEYS = {f.name for f in dataclasses.fields(ModelArgs)}


def from_meta_params(params: dict[str, Any]) -> ModelArgs:
    """ModelArgs from a Meta params.json; unknown keys are ignored as llama-models does."""
    known = {k: v for k, v in params.items() if k in _META_KEYS}
    if "rope_scaling_factor" in params:  # later llama-models params.json
        known["rope_scale_factor"] = float(params["rope_scaling_factor"])
    return ModelArgs(**known)


def from_hf_config(config: dict[str, Any]) -> ModelArgs:
    """ModelArgs from a Hugging Face `LlamaForCausalLM` config.json."""
    scaling = config.get("rope_scaling") or {}
    rope_type = scaling.get("rope_type", scaling.get("type"))
    if scaling and rope_type != "llama3":
        raise ValueError(f"unsupported rope_scaling type {rope_type!r}")
    heads = int(config["num_attention_heads"])
    return ModelArgs(
        dim=int(config["hidden_size"]),
        n_layers=int(config["num_hidden_layers"]),
        n_heads=heads,
        n_kv_heads=int(config.get("num_key_value_heads") or heads),
        vocab_size=int(config["vocab_size"]),
        norm_eps=float(config.get("rms_norm_eps", 1e-6)),
        rope_theta=float(config.get("rope_theta", 10000.0)),
        use_scaled_rope=bool(scaling),
        rope_scale_factor=float(scaling.get("factor", 8.0)),
        ffn_hidden_dim=int(config["intermediate_size"]),
        tie_embeddings=bool(config.get("tie_word_embeddings", False)),
        rope_interleaved=False,
        max_position=config.get("max_position_embeddings"),
    )


def to_hf_config(args: ModelArgs, max_position: int, bos_id: int, eos_id: Any) -> dict[str, Any]:
    """The config.json HF's converter writes for these args (for `llamadoctor convert`)."""
    config: dict[str, Any] = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_act": "silu",
        "hidden_size": args.dim,
        "intermediate_size": args.hidden_dim,
        "num_attention_heads": args.n_heads,
        "num_hidden_layers": args.n_layers,
        "num_key_value_heads": args.kv_heads,
        "rms_norm_eps": args.norm_eps,
        "rope_theta": args.rope_theta,
        "vocab_size": args.vocab_size,
        "max_position_embeddings": max_position,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "tie_word_embeddings": args.tie_embeddings,
        "attention_bias": False,
        "mlp_bias": False,
        "rope_scaling": None,
    }
    if args.use_scaled_rope:
        config["rope_scaling"] = {
            "rope_type": "llama3",
            "factor": args.rope_scale_factor,
            "low_freq_factor": LLAMA31_ROPE["low_freq_factor"],
            "high_freq_factor": LLAMA31_ROPE["high_freq_factor"],
            "original_max_position_embeddings": int(LLAMA31_ROPE["original_max_position"]),
        }
    return config
