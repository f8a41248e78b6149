"""A compact Llama 1/2/3/3.1/3.2 decoder in plain PyTorch.

Module names follow Meta's checkpoint keys (`layers.0.attention.wq`, `feed_forward.w1`, ...) so a Meta state
dict loads as is; the loader renames HF keys to these. Under model parallelism every rank holds its own
shard: column parallel layers (wq, wk, wv, w1, w3, output) own a slice of output rows, row parallel layers
(wo, w2) a slice of input columns followed by an all-reduce. RoPE is real-valued (cos/sin) because complex
tensors are patchy on MPS.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from llamadoctor.runner.args import LLAMA31_ROPE, ModelArgs
from llamadoctor.runner.distributed import SINGLE, Parallel


def rope_frequencies(args: ModelArgs) -> torch.Tensor:
    """Per-pair rotation frequencies, with Llama 3.1's long-context scaling when the params ask for it."""
    hd = args.head_dim
    freqs = 1.0 / (args.rope_theta ** (torch.arange(0, hd, 2)[: hd // 2].float() / hd))
    if not args.use_scaled_rope:
        return freqs
    old_len = LLAMA31_ROPE["original_max_position"]
    low_wavelen = old_len / LLAMA31_ROPE["low_freq_factor"]
    high_wavelen = old_len / LLAMA31_ROPE["high_freq_factor"]
    wavelen = 2 * math.pi / freqs
    factor = args.rope_scale_factor
    smooth = (old_len / wavelen - LLAMA31_ROPE["low_freq_factor"]) / (
        LLAMA31_ROPE["high_freq_factor"] - LLAMA31_ROPE["low_freq_factor"]
    )
    scaled = torch.where(wavelen > low_wavelen, freqs / factor, freqs)
    mid = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
    return torch.where(mid, (1 - smooth) * scaled / factor + smooth * scaled, scaled)


def rope_table(args: ModelArgs, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    angles = torch.outer(torch.arange(length, dtype=torch.float32), rope_frequencies(args))
    return torch.cos(angles), torch.sin(angles)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleaved: bool) -> torch.Tensor:
    """Rotate (B, heads, T, hd) by position; cos/sin are (T, hd/2). Done in fp32 as Meta does."""
    xf = x.float()
    if interleaved:
        pairs = xf.reshape(*xf.shape[:-1], -1, 2)
        a, b = pairs[..., 0], pairs[..., 1]
        out = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)
    else:
        a, b = xf.chunk(2, dim=-1)
        out = torch.cat((a * cos - b * sin, b * cos + a * sin), dim=-1)
    return out.type_as(x)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


def _attend_step(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Attention of the one-token step over the live cache, written out as Meta's reference does: under
    torch.compile the scaling and softmax fuse into one small kernel, where CPU SDPA costs a call per layer."""
    scores = (q @ keys.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    return torch.softmax(scores.float(), dim=-1).type_as(q) @ values


class Attention(nn.Module):
    def __init__(self, args: ModelArgs, par: Parallel) -> None:
        super().__init__()
        if args.n_heads % par.world or args.kv_heads % par.world:
            raise ValueError(f"{args.n_heads} heads / {args.kv_heads} kv heads do not split over {par.world}")
        self.par = par
        self.n_heads = args.n_heads // par.world
        self.n_kv = args.kv_heads // par.world
        self.hd = args.head_dim
        self.interleaved = args.rope_interleaved
        self.wq = nn.Linear(args.dim, self.n_heads * self.hd, bias=False)
        self.wk = nn.Linear(args.dim, self.n_kv * self.hd, bias=False)
        self.wv = nn.Linear(args.dim, self.n_kv * self.hd, bias=False)
        self.wo = nn.Linear(self.n_heads * self.hd, args.dim, bias=False)
        self.register_buffer("cache_k", None, persistent=False)
        self.register_buffer("cache_v", None, persistent=False)

    def forward(
        self, x: torch.Tensor, pos: int | torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """`pos` is an int, or for the one-token decode step the positions the new token attends to, its own
        last (`Transformer.decode_hidden`)."""
        bsz, seqlen, _ = x.shape
        q = self.wq(x).view(bsz, seqlen, self.n_heads, self.hd).transpose(1, 2)
        k = self.wk(x).view(bsz, seqlen, self.n_kv, self.hd).transpose(1, 2)
        v = self.wv(x).view(bsz, seqlen, self.n_kv, self.hd).transpose(1, 2)
        q = apply_rope(q, cos, sin, self.interleaved)
        k = apply_rope(k, cos, sin, self.interleaved)
        assert self.cache_k is not None and self.cache_v is not None, "call Transformer.setup_cache first"
        if isinstance(pos, torch.Tensor):
            live, at = pos.shape[0], pos[-1:]
            keys = self.cache_k[:bsz].index_copy_(2, at, k)[:, :, :live]
            values = self.cache_v[:bsz].index_copy_(2, at, v)[:, :, :live]
        else:
            self.cache_k[:bsz, :, pos : pos + seqlen] = k
            self.cache_v[:bsz, :, pos : pos + seqlen] = v
            keys = self.cache_k[:bsz, :, : pos + seqlen]
            values = self.cache_v[:bsz, :, : pos + seqlen]
        # GQA without copying the cache: fold each KV head's n_rep query heads into the sequence axis, so
        # query head j meets KV head j // n_rep as in Meta's repeat_kv.
        n_rep = self.n_heads // self.n_kv
        q = q.reshape(bsz, self.n_kv, n_rep * seqlen, self.hd)
        if mask is not None and n_rep > 1:
            mask = mask.repeat(n_rep, 1)
        if isinstance(pos, torch.Tensor):
            out = _attend_step(q, keys, values)
        else:
            out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        out = out.view(bsz, self.n_heads, seqlen, self.hd).transpose(1, 2).reshape(bsz, seqlen, -1)
        return self.par.all_reduce(self.wo(out))

    def setup_cache(self, batch: int, length: int, dtype: torch.dtype, device: torch.device) -> None:
        # One spare position: a slice of the live positions is then never the whole cache, which Inductor would
        # tell apart (a contiguous view) and recompile for at the very last position.
        shape = (batch, self.n_kv, length + 1, self.hd)
        self.cache_k = torch.zeros(shape, dtype=dtype, device=device)
        self.cache_v = torch.zeros(shape, dtype=dtype, device=device)


class FeedForward(nn.Module):
    def __init__(self, args: ModelArgs, par: Parallel) -> None:
        super().__init__()
        hidden = args.hidden_dim
        if hidden % par.world:
            raise ValueError(f"FFN width {hidden} does not split over {par.world} ranks")
        self.par = par
        self.w1 = nn.Linear(args.dim, hidden // par.world, bias=False)
        self.w2 = nn.Linear(hidden // par.world, args.dim, bias=False)
        self.w3 = nn.Linear(args.dim, hidden // par.world, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.par.all_reduce(self.w2(F.silu(self.w1(x)) * self.w3(x)))


class Block(nn.Module):
    def __init__(self, args: ModelArgs, par: Parallel) -> None:
        super().__init__()
        self.attention = Attention(args, par)
        self.feed_forward = FeedForward(args, par)
        self.attention_norm = RMSNorm(args.dim, args.norm_eps)
        self.ffn_norm = RMSNorm(args.dim, args.norm_eps)

    def forward(
        self, x: torch.Tensor, pos: int | torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        h = x + self.attention(self.attention_norm(x), pos, cos, sin, mask)
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    def __init__(self, args: ModelArgs, par: Parallel = SINGLE, embedding_split_dim: int = 1) -> None:
        super().__init__()
        self.args, self.par = args, par
        # Llama 1/2 shard the embedding on its width (ParallelEmbedding), Llama 3 on the vocab.
        self.embedding_split_dim = embedding_split_dim
        rows, cols = args.vocab_size, args.dim
        if par.is_parallel and embedding_split_dim == 0:
            rows //= par.world
        elif par.is_parallel:
            cols //= par.world
        # Weights always come from a checkpoint: skip nn.Embedding's random init (on the meta device its normal_
        # pulls in torch._dynamo, seconds of import time).
        self.tok_embeddings = nn.Embedding(rows, cols, _weight=torch.empty(rows, cols))
        self.layers = nn.ModuleList(Block(args, par) for _ in range(args.n_layers))
        self.norm = RMSNorm(args.dim, args.norm_eps)
        self.output = nn.Linear(args.dim, args.vocab_size // par.world, bias=False)
        self.cos: torch.Tensor | None = None
        self.sin: torch.Tensor | None = None
        self.positions: torch.Tensor | None = None
        self.max_seq_len = 0

    def setup_cache(self, batch: int, max_seq_len: int) -> None:
        """Get ready to generate: allocate the KV cache once (Meta's layout per layer, heads before positions)
        and the RoPE table."""
        weight = self.norm.weight  # the run's dtype and device, whatever form the output layer takes
        self.max_seq_len = max_seq_len
        for layer in self.layers:
            cast(Block, layer).attention.setup_cache(batch, max_seq_len, weight.dtype, weight.device)
        cos, sin = rope_table(self.args, max_seq_len)
        self.cos, self.sin = cos.to(weight.device), sin.to(weight.device)
        self.positions = torch.arange(max_seq_len, device=weight.device)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        if not self.par.is_parallel:
            return self.tok_embeddings(tokens)
        if self.embedding_split_dim == 1:
            return self.par.all_gather_last(self.tok_embeddings(tokens))
        rows = self.tok_embeddings.num_embeddings
        local = tokens - self.par.rank * rows
        outside = (local < 0) | (local >= rows)
        h = self.tok_embeddings(local.masked_fill(outside, 0)).masked_fill(outside.unsqueeze(-1), 0.0)
        return self.par.all_reduce(h)

    @torch.inference_mode()
    def forward(self, tokens: torch.Tensor, pos: int, all_logits: bool = False) -> torch.Tensor:
        """Logits (fp32) for the last position, or all positions, of `tokens` placed at `pos`."""
        assert self.cos is not None and self.sin is not None, "call setup_cache first"
        seqlen = tokens.shape[1]
        if pos + seqlen > self.max_seq_len:
            raise ValueError(f"position {pos + seqlen} is past max_seq_len {self.max_seq_len}")
        cos, sin = self.cos[pos : pos + seqlen], self.sin[pos : pos + seqlen]
        mask = None
        if seqlen > 1:
            # Causal over the new tokens, all earlier cached positions visible (chunked prefill works too).
            mask = torch.ones(seqlen, pos + seqlen, dtype=torch.bool, device=tokens.device).tril(pos)
        h = self.embed(tokens)
        for layer in self.layers:
            h = layer(h, pos, cos, sin, mask)
        if not all_logits:
            h = h[:, -1:]
        return self.logits(self.norm(h))

    @torch.no_grad()  # not inference_mode: Inductor cannot update inference tensors in place
    def decode_hidden(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """The final normed hidden state of one new token per row, placed at the last of `positions` (a prefix
        of `self.positions`) and attending to all of them.

        The decode step is `logits(decode_hidden(...))`; the number of positions is the one size that changes from
        step to step, so each step attends to the live cache only, not to all `max_seq_len` positions."""
        assert self.cos is not None and self.sin is not None, "call setup_cache first"
        at = positions[-1:]
        cos, sin = self.cos.index_select(0, at), self.sin.index_select(0, at)
        h = self.embed(tokens)
        for layer in self.layers:
            h = layer(h, positions, cos, sin, None)
        return self.norm(h)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """fp32 logits over the whole vocabulary (gathered from every rank) of normed hidden states."""
        return self.par.all_gather_last(self.output(hidden)).float()
