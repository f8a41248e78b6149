"""The runner's view of a Llama's shape: the shared, torch-free `LlamaParams` (parsed and validated in
`llamadoctor.llama`), plus the one limit of this runner and the config.json the converter writes."""

from __future__ import annotations

from typing import Any

from llamadoctor.llama import LLAMA31_ROPE, LlamaParams, ParamsError, from_meta_params
from llamadoctor.llama import from_hf_config as _read_hf_config

ModelArgs = LlamaParams


def from_hf_config(config: Any, source: str = "config.json") -> ModelArgs:
    """ModelArgs from a Hugging Face config.json; this runner implements Llama 3's rope scaling only."""
    args = _read_hf_config(config, source)
    if args.rope_scaling_type not in (None, "llama3"):
        raise ParamsError(f"{source}: unsupported rope_scaling type {args.rope_scaling_type!r}")
    return args


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


__all__ = ["LLAMA31_ROPE", "ModelArgs", "from_hf_config", "from_meta_params", "to_hf_config"]
