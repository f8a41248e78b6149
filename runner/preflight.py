"""Checks of a run that need what only the runner knows (ranks, loaded tensors, tokenized prompts), each failing
with one RunError (message + fix). The model files are judged before, by the doctor's own checks
(`doctor_checks`).
"""

from __future__ import annotations

from collections.abc import Sequence

from llamadoctor.runner.args import ModelArgs
from llamadoctor.runner.errors import RunError

GIB = 1024**3


def check_shards_vs_ranks(n_shards: int, world: int) -> None:
    if world == 1 or n_shards == 0:
        return
    if (world <= n_shards and n_shards % world) or (world > n_shards and world % n_shards):
        raise RunError(
            f"{n_shards} checkpoint shards cannot be spread over {world} processes",
            f"use torchrun --nproc_per_node {n_shards}, or no torchrun (one process merges the shards)",
        )


def check_vocab(args: ModelArgs, n_words: int) -> None:
    if args.vocab_size != n_words:
        raise RunError(
            f"the model has {args.vocab_size} vocab rows but the tokenizer has {n_words} tokens",
            "use the tokenizer.model that came with this model (--tokenizer-path)",
        )


def check_prompts(prompts: Sequence[list[int]], max_seq_len: int, texts: Sequence[str]) -> None:
    for ids, text in zip(prompts, texts):
        if not text.strip():
            raise RunError("the prompt is empty", "pass some text with --prompt")
        if len(ids) >= max_seq_len:
            raise RunError(
                f"the prompt is {len(ids)} tokens but --max-seq-len is {max_seq_len}: no room to answer",
                f"raise --max-seq-len above {len(ids)} (within the model's context) or shorten the prompt",
            )


def kv_cache_bytes(args: ModelArgs, batch: int, seq_len: int, dtype_bytes: int, world: int = 1) -> int:
    return 2 * args.n_layers * (args.kv_heads // world) * args.head_dim * seq_len * batch * dtype_bytes


def check_memory(need_bytes: int, available_bytes: int, where: str) -> None:
    """Weights + KV cache must fit in what is free, with a small margin for activations."""
    if need_bytes * 1.05 > available_bytes:
        raise RunError(
            f"this run needs about {need_bytes / GIB:.1f} GiB; {where} has {available_bytes / GIB:.1f} free",
            "use a smaller model, lower --max-batch-size/--max-seq-len, a lower --dtype, or more ranks",
        )
