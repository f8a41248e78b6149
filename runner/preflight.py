"""Checks of a run that need what only the runner knows (ranks, loaded tensors, tokenized prompts), each failing
with one RunError (message + fix). The model files are judged before, by the doctor's own checks
(`doctor_checks`).
"""

from __future__ import annotations

from collections.abc import Sequence

from llamadoctor.llama import Estimate, estimate, shards_spread_over
from llamadoctor.runner.args import ModelArgs
from llamadoctor.runner.errors import RunError

GIB = 1024**3


def check_shards_vs_ranks(n_shards: int, world: int) -> None:
    if not shards_spread_over(n_shards, world):
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


def memory_needed(
    args: ModelArgs,
    dtype: str,
    device: str,
    max_seq_len: int,
    max_batch_size: int,
    world: int = 1,
    quantize: str | None = None,
) -> Estimate:
    """What `check` and `estimate` say this run needs: weights, KV cache, activations, overhead."""
    return estimate(
        args,
        dtype=dtype,
        device=device,
        max_seq_len=max_seq_len,
        max_batch_size=max_batch_size,
        nproc=world,
        quantize=quantize,
    )


def check_memory(est: Estimate, available_bytes: int, where: str) -> None:
    """The run must fit in what is free: one GPU's share per rank, or all ranks in the machine's RAM."""
    if est.needed_bytes > available_bytes:
        raise RunError(
            f"this run needs about {est.needed_bytes / GIB:.1f} GiB ({est.precision}, --max-seq-len "
            f"{est.max_seq_len}, --max-batch-size {est.max_batch_size}); {where} has "
            f"{available_bytes / GIB:.1f} GiB free",
            "use a smaller model, lower --max-batch-size/--max-seq-len, a lower --dtype, --quantize int8 or int4, "
            "or more ranks (`llamadoctor estimate` shows what fits)",
        )
