"""How a Llama's tensors are named and split: Meta's keys, their HF names, the model-parallel split of each
tensor over shards, and which numbers of processes a set of shards can run on."""

from __future__ import annotations

import re

from llamadoctor.llama.params import LlamaParams
from llamadoctor.llama.version import LLAMA3_MIN_VOCAB

# How fairscale split each Meta tensor over model-parallel ranks (dim of the torch weight, None = replicated).
# tok_embeddings depends on the generation: see `embedding_split_dim`.
SPLIT_DIMS: dict[str, int | None] = {
    "attention.wq.weight": 0,
    "attention.wk.weight": 0,
    "attention.wv.weight": 0,
    "attention.wo.weight": 1,
    "feed_forward.w1.weight": 0,
    "feed_forward.w3.weight": 0,
    "feed_forward.w2.weight": 1,
    "output.weight": 0,
    "attention_norm.weight": None,
    "ffn_norm.weight": None,
    "norm.weight": None,
    "rope.freqs": None,
}
EMBEDDING_SPLIT_DIM = {"llama1/2": 1, "llama3": 0}  # ParallelEmbedding vs VocabParallelEmbedding

HF_LAYER = {
    "self_attn.q_proj.weight": "attention.wq.weight",
    "self_attn.k_proj.weight": "attention.wk.weight",
    "self_attn.v_proj.weight": "attention.wv.weight",
    "self_attn.o_proj.weight": "attention.wo.weight",
    "mlp.gate_proj.weight": "feed_forward.w1.weight",
    "mlp.up_proj.weight": "feed_forward.w3.weight",
    "mlp.down_proj.weight": "feed_forward.w2.weight",
    "input_layernorm.weight": "attention_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
}
HF_TOP = {
    "model.embed_tokens.weight": "tok_embeddings.weight",
    "model.norm.weight": "norm.weight",
    "lm_head.weight": "output.weight",
}
_HF_LAYER_KEY = re.compile(r"^model\.layers\.(\d+)\.(.+)$")
_META_LAYER_KEY = re.compile(r"^layers\.(\d+)\.(.+)$")


def embedding_split_dim(params: LlamaParams) -> int:
    """Llama 1/2 split the embedding by width (ParallelEmbedding), Llama 3 by vocabulary."""
    return EMBEDDING_SPLIT_DIM["llama3" if params.vocab_size >= LLAMA3_MIN_VOCAB else "llama1/2"]


def split_dim(key: str, embedding_dim: int) -> int | None:
    """Split dim of a Meta key (`layers.3.attention.wo.weight` -> 1); `embedding_dim` is 1 or 0 (Llama 3)."""
    if key == "tok_embeddings.weight":
        return embedding_dim
    for suffix, dim in SPLIT_DIMS.items():
        if key.endswith(suffix):
            return dim
    raise KeyError(f"unknown Meta checkpoint key {key!r}")


def meta_key_from_hf(name: str) -> str | None:
    """Meta name of an HF tensor name, or None for tensors the model does not use (rotary_emb.inv_freq)."""
    if name in HF_TOP:
        return HF_TOP[name]
    m = _HF_LAYER_KEY.match(name)
    if m and m.group(2) in HF_LAYER:
        return f"layers.{m.group(1)}.{HF_LAYER[m.group(2)]}"
    return None


def hf_key_from_meta(key: str) -> str | None:
    """HF name of a Meta key, or None for `rope.freqs` (HF recomputes it)."""
    for hf, meta in HF_TOP.items():
        if key == meta:
            return hf
    m = _META_LAYER_KEY.match(key)
    if m:
        for hf, meta in HF_LAYER.items():
            if meta == m.group(2):
                return f"model.layers.{m.group(1)}.{hf}"
    return None


def shard_shapes(params: LlamaParams, n_shards: int = 1) -> dict[str, tuple[int, ...]]:
    """Shapes of the non-layer tensors and of layer 0 in one of Meta's `n_shards` model-parallel parts."""
    n, d, hd, ffn = n_shards, params.dim, params.head_dim, params.hidden_dim
    vocab, heads, kv = params.vocab_size, params.n_heads, params.kv_heads
    by_vocab = embedding_split_dim(params) == 0
    return {
        "tok_embeddings.weight": (vocab // n, d) if by_vocab else (vocab, d // n),
        "norm.weight": (d,),
        "output.weight": (vocab // n, d),
        "layers.0.attention.wq.weight": (heads * hd // n, d),
        "layers.0.attention.wk.weight": (kv * hd // n, d),
        "layers.0.attention.wv.weight": (kv * hd // n, d),
        "layers.0.attention.wo.weight": (d, heads * hd // n),
        "layers.0.feed_forward.w1.weight": (ffn // n, d),
        "layers.0.feed_forward.w2.weight": (d, ffn // n),
        "layers.0.feed_forward.w3.weight": (ffn // n, d),
        "layers.0.attention_norm.weight": (d,),
        "layers.0.ffn_norm.weight": (d,),
    }


def meta_code_runs(n_shards: int, nproc: int) -> bool:
    """Meta's reference code loads shard i in process i: `--nproc_per_node` must equal the shard count."""
    return n_shards == nproc


def shards_spread_over(n_shards: int, world: int) -> bool:
    """Whether llamadoctor's runner can run `n_shards` on `world` processes: it merges consecutive shards or
    splits each one, so one count must divide the other."""
    if world == 1 or n_shards == 0:
        return True
    return (n_shards % world == 0) if world <= n_shards else (world % n_shards == 0)


def heads_split_over(params: LlamaParams, world: int) -> bool:
    """Whether the attention and key/value heads divide evenly over `world` shards."""
    return params.n_heads % world == 0 and params.kv_heads % world == 0


def shards_of_rank(n_shards: int, world: int, rank: int) -> tuple[int, ...]:
    """The shard indices rank `rank` of `world` loads: consecutive shards merged when there are more shards than
    ranks, one shard split between ranks when there are fewer; () when the counts don't divide."""
    if n_shards == 0 or not shards_spread_over(n_shards, world) or not 0 <= rank < world:
        return ()
    if world <= n_shards:
        per = n_shards // world
        return tuple(range(rank * per, (rank + 1) * per))
    return (rank // (world // n_shards),)
