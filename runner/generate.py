"""Batched generation with the reference's semantics, plus timing.

Like Meta's `generate`: prompts are right-padded, the shortest prompt is prefilled, longer ones are teacher-
forced token by token, sampling is temperature + top-p (greedy at temperature 0), a row stops at a stop
token, results are cut at `max_gen_len` and at the first stop token. Unlike it, more prompts than
`max_batch_size` run in several batches instead of failing an assert.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable

import torch

from llamadoctor.runner.compiled import CompiledStep
from llamadoctor.runner.model import Transformer

OnToken = Callable[[int], None]  # called with each new token id of a single-prompt run


@dataclass(frozen=True)
class Sampling:
    max_gen_len: int
    temperature: float = 0.6
    top_p: float = 0.9


@dataclass
class Timings:
    """Filled as generation runs; `first_token_s` is prefill plus the first sample of the first batch."""

    first_token_s: float | None = None
    decode_tokens: int = 0
    decode_s: float = 0.0
    compile_s: float = 0.0
    batches: list[int] = field(default_factory=list)

    @property
    def decode_tok_s(self) -> float:
        return self.decode_tokens / self.decode_s if self.decode_s > 0 else 0.0


def sample_top_p(probs: torch.Tensor, p: float) -> torch.Tensor:
    """Smallest set of tokens whose mass reaches p (crossing token included), renormalised, sampled."""
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    cumulative = torch.cumsum(sorted_probs, dim=-1)
    sorted_probs[cumulative - sorted_probs > p] = 0.0
    sorted_probs.div_(sorted_probs.sum(dim=-1, keepdim=True))
    choice = torch.multinomial(sorted_probs, num_samples=1)
    return torch.gather(order, -1, choice).reshape(-1)


def next_tokens(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    if temperature > 0:
        return sample_top_p(torch.softmax(logits / temperature, dim=-1), top_p)
    if logits.device.type == "cpu":
        # The same first index of the maximum, from NumPy's vectorised argmax: 5 us over a 32000-word vocabulary
        # where torch's takes 35, a step in 100 of a small model's.
        return torch.from_numpy(logits.numpy().argmax(-1)).to(torch.long)
    return torch.argmax(logits, dim=-1)


class Generator:
    def __init__(
        self,
        model: Transformer,
        max_batch_size: int,
        max_seq_len: int,
        stop_ids: frozenset[int],
        compile: bool = False,
        warn: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.model = model
        self.max_batch_size = max_batch_size
        self.max_seq_len = max_seq_len
        self.stop_ids = stop_ids
        self.device = model.norm.weight.device
        model.setup_cache(max_batch_size, max_seq_len)
        self.compiled = CompiledStep(model, warn) if compile and not model.par.is_parallel else None

    @property
    def compiling(self) -> bool:
        """Whether one-token steps go through torch.compile (asked for, and not fallen back to eager)."""
        return self.compiled is not None and self.compiled.works

    def _logits(self, tokens: torch.Tensor, prev: int, cur: int) -> torch.Tensor:
        # A step from position 0 is a prefill of one token: a length-1 input would be a graph of its own.
        if self.compiled is not None and cur - prev == 1 and prev > 0:
            logits = self.compiled.logits(tokens[:, prev:cur], cur)
            if logits is not None:
                return logits[:, -1]
        return self.model(tokens[:, prev:cur], prev)[:, -1]

    def generate(
        self,
        prompts: Sequence[list[int]],
        sampling: Sampling,
        timings: Timings,
        on_token: OnToken | None = None,
    ) -> list[list[int]]:
        """Generated ids (prompt excluded) for each prompt, in order."""
        out: list[list[int]] = []
        for start in range(0, len(prompts), self.max_batch_size):
            batch = prompts[start : start + self.max_batch_size]
            timings.batches.append(len(batch))
            out += self._batch(batch, sampling, timings, on_token if len(prompts) == 1 else None)
        return out

    def _batch(
        self, prompts: Sequence[list[int]], s: Sampling, timings: Timings, on_token: OnToken | None
    ) -> list[list[int]]:
        bsz = len(prompts)
        lengths = [len(p) for p in prompts]
        total = min(self.max_seq_len, s.max_gen_len + max(lengths))
        tokens = torch.zeros((bsz, total), dtype=torch.long)
        known = torch.zeros((bsz, total), dtype=torch.bool)
        for i, p in enumerate(prompts):
            tokens[i, : len(p)] = torch.tensor(p[:total], dtype=torch.long)
            known[i, : len(p)] = True
        tokens, known = tokens.to(self.device), known.to(self.device)
        if self.compiled is not None:
            timings.compile_s += self.compiled.warm_up(bsz)
        # The loop's bookkeeping is Python on the step's one device sync (`tolist`): each tiny tensor op costs
        # microseconds, and a compiled step of a small model takes only a couple of milliseconds.
        done = [False] * bsz
        longest = max(lengths)
        started = time.perf_counter()
        first_at: float | None = None
        prev = 0
        with self.compiled.known_graphs() if self.compiled is not None else contextlib.nullcontext():
            for cur in range(min(lengths), total):
                logits = self._logits(tokens, prev, cur)
                nxt = next_tokens(logits, s.temperature, s.top_p)
                if cur < longest:  # rows still reading their prompt keep its token
                    nxt = torch.where(known[:, cur], tokens[:, cur], nxt)
                tokens[:, cur] = nxt
                row = nxt.tolist()  # the step's one sync; it also makes timings honest on GPUs
                for i, token in enumerate(row):
                    done[i] = done[i] or (cur >= lengths[i] and token in self.stop_ids)
                prev = cur
                if first_at is None:
                    first_at = time.perf_counter()
                    if timings.first_token_s is None:
                        timings.first_token_s = first_at - started
                else:
                    timings.decode_tokens += bsz
                if on_token is not None and cur >= lengths[0] and row[0] not in self.stop_ids:
                    on_token(row[0])
                if all(done):
                    break
        if first_at is not None:
            timings.decode_s += time.perf_counter() - first_at
        return [self._cut(row, n, s.max_gen_len) for row, n in zip(tokens.tolist(), lengths)]

    def _cut(self, row: list[int], prompt_len: int, max_gen_len: int) -> list[int]:
        gen = row[prompt_len : prompt_len + max_gen_len]
        for i, t in enumerate(gen):
            if t in self.stop_ids:
                return gen[:i]
        return gen
