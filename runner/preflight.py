"""Checks of a run that need what only the runner knows (ranks, loaded tensors, tokenized prompts), each failing
with one RunError (message + fix). The model files are judged before, by the doctor's own checks
(`doctor_checks`).
"""

from __future__ import annotations

from collections.abc import Sequence

from llamadoctor.i18n import _
from llamadoctor.llama import Estimate, estimate, shards_spread_over
from llamadoctor.runner.args import ModelArgs
from llamadoctor.runner.errors import RunError

GIB = 1024**3


def check_shards_vs_ranks(n_shards: int, world: int) -> None:
    if not shards_spread_over(n_shards, world):
        raise RunError(
            _("{shards} checkpoint shards cannot be spread over {world} processes").format(
                shards=n_shards, world=world
            ),
            _("use torchrun --nproc_per_node {shards}, or no torchrun (one process merges the shards)").format(
                shards=n_shards
            ),
        )


def check_vocab(args: ModelArgs, n_words: int) -> None:
    if args.vocab_size != n_words:
        raise RunError(
            _("the model has {rows} vocab rows but the tokenizer has {tokens} tokens").format(
                rows=args.vocab_size, tokens=n_words
            ),
            _("use the tokenizer.model that came with this model (--tokenizer-path)"),
        )


def check_prompts(prompts: Sequence[list[int]], max_seq_len: int, texts: Sequence[str]) -> None:
    for ids, text in zip(prompts, texts):
        if not text.strip():
            raise RunError(_("the prompt is empty"), _("pass some text with --prompt"))
        if len(ids) >= max_seq_len:
            raise RunError(
                _("the prompt is {tokens} tokens but --max-seq-len is {limit}: no room to answer").format(
                    tokens=len(ids), limit=max_seq_len
                ),
                _("raise --max-seq-len above {tokens} (within the model's context) or shorten the prompt").format(
                    tokens=len(ids)
                ),
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
    """The run must fit in what is free: one GPU's share per rank, or all ranks in the machine's RAM. `where`
    names the memory, as the start of a sentence (`GPU 0`, `this machine`)."""
    if est.needed_bytes > available_bytes:
        raise RunError(
            # TRANSLATORS: {where} is "GPU 0" or "this machine"; {precision} is e.g. "bf16" or "bf16 + int8".
            _(
                "this run needs about {needed} GiB ({precision}, --max-seq-len {seq}, --max-batch-size {batch}); "
                "{where} has {free} GiB free"
            ).format(
                needed=f"{est.needed_bytes / GIB:.1f}",
                precision=est.precision,
                seq=est.max_seq_len,
                batch=est.max_batch_size,
                where=where,
                free=f"{available_bytes / GIB:.1f}",
            ),
            _(
                "use a smaller model, lower --max-batch-size/--max-seq-len, a lower --dtype, --quantize int8 or "
                "int4, or more ranks (`llamadoctor estimate` shows what fits)"
            ),
        )
