"""Batched generation with the reference's semantics, plus timing.

Like Meta's `generate`: prompts are right-padded, the shortest prompt is prefilled, longer ones are teacher-
forced token by token, sampling is temperature + top-p (greedy at temperature 0), a row stops at a stop
token, results are cut at `max_gen_len` and at the first stop token. Unlike it, more prompts than
`max_batch_size` run in several batches instead of failing an assert (failure mode N53).
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from llamadoctor.runner.model import Transformer

OnToken = Callable[[int], None]  # called with each new token id of a single-prompt run
_set_stance = getattr(torch.compiler, "set_stance", None)
_CAN_SKIP_GUARDS = _set_stance is not None and "skip_guard_eval_unsafe" in inspect.signature(_set_stance).parameters


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


def compile_options(device: torch.device) -> tuple[dict[str, Any], ...]:
    """Inductor options to try for the decode step, best first.

    On the CPU, `cpp_wrapper` runs the compiled graph from generated C++ rather than Python: a one-token step of
    a small model is a hundred tiny calls, and their Python glue was about a third of its time."""
    if device.type == "cpu":
        return ({"cpp_wrapper": True}, {})
    return ({},)


def _reason(exc: Exception) -> str:
    """The line of a compiler failure that says what went wrong: its first (the rest is IR dumps, stack traces
    and torch's advice on logging)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:200]


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
        self.device = model.output.weight.device
        model.setup_cache(max_batch_size, max_seq_len)
        # One-token steps through torch.compile (all but the output layer: `Transformer.decode_hidden`): no
        # per-op Python overhead, the small element-wise work between the matrix-vector products fused. On the
        # CPU the products of one row become Inductor's own parallel reductions (`model.Linear`'s batched form;
        # faster than MKL's one-core gemv), of several rows MKL's batched product. Prefill stays eager.
        # Collectives would break the graph, so model-parallel runs stay eager.
        self.warn = warn
        self.step: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
        self._compile_options = list(compile_options(self.device)) if compile and not model.par.is_parallel else []
        # What each graph was compiled for: the batch size, and whether the caller was in inference mode (a
        # guard of its own, which `_known_graphs` would not let a step recompile for).
        self._compiled_for: set[tuple[int, bool]] = set()

    def _warm_up(self, bsz: int, timings: Timings) -> None:
        """Compile for this batch size before the clock starts (what it writes to the cache is overwritten before
        anything reads it: a step writes its own position before attending).

        Each way of compiling is tried in turn; if none works here (no C++ compiler, an op the backend lacks),
        decoding stays eager with a warning instead of failing the run."""
        key = (bsz, torch.is_inference_mode_enabled())
        if not self._compile_options or key in self._compiled_for:
            return
        started = time.perf_counter()
        zeros = torch.zeros((bsz, 1), dtype=torch.long, device=self.device)
        while self._compile_options:
            if self.step is None:
                self.step = torch.compile(
                    self.model.decode_hidden, fullgraph=True, dynamic=False, options=self._compile_options[0]
                )
            try:
                self._run_step(zeros, self._positions(2))
                self._compiled_for.add(key)
                break
            except Exception as exc:  # any compiler failure means: try the next way
                # Start the next way from scratch: no graph of the failed one may be reused.
                self.step = None
                self._compiled_for.clear()
                torch._dynamo.reset()
                self._compile_options.pop(0)
                if not self._compile_options:
                    self._decode_eagerly(exc)
        timings.compile_s += time.perf_counter() - started

    def _decode_eagerly(self, exc: Exception) -> None:
        self.step = None
        self._compile_options.clear()
        self.warn(f"warning: --compile failed ({_reason(exc)}); decoding without it.")

    def _positions(self, n: int) -> torch.Tensor:
        assert self.model.positions is not None
        return self.model.positions[:n]

    def _run_step(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        assert self.step is not None
        # The number of positions is the one size that changes from step to step: marked dynamic on every input,
        # so that a graph compiled again (for a caller's other grad mode, say) also serves every length.
        torch._dynamo.maybe_mark_dynamic(positions, 0)
        with torch.no_grad():  # the warm-up's grad mode, whatever the caller's: no graph of its own
            return self.model.logits(self.step(tokens, positions))

    def _known_graphs(self) -> contextlib.AbstractContextManager[object]:
        """Within a batch, after its warm-up: only the guards that tell the cached graphs apart are checked.

        The warm-up checked every guard for this batch size and this model, and nothing a graph reads is replaced
        before the batch ends (only the number of positions changes, and it is dynamic); the other guards, one per
        weight, cost 0.1 ms a step, 4% of a small model's. Needs torch >= 2.7."""
        if self.step is None or not _CAN_SKIP_GUARDS:
            return contextlib.nullcontext()
        return torch.compiler.set_stance(skip_guard_eval_unsafe=True)

    def _logits(self, tokens: torch.Tensor, prev: int, cur: int) -> torch.Tensor:
        # A step from position 0 is a prefill of one token: a length-1 input would be a graph of its own.
        if self.step is not None and cur - prev == 1 and prev > 0:
            # A fresh (bsz, 1) tensor: a slice keeps the row stride, and a new stride means a recompile.
            step_tokens = tokens.new_empty((tokens.shape[0], 1)).copy_(tokens[:, prev:cur])
            try:
                return self._run_step(step_tokens, self._positions(cur))[:, -1]
            except Exception as exc:  # a recompile that fails (or hits torch's limit) mid-run: finish eagerly
                # Safe to redo: the failed step can only have written this position's keys and values.
                self._decode_eagerly(exc)
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
        self._warm_up(bsz, timings)
        # The loop's bookkeeping is Python on the step's one device sync (`tolist`): each tiny tensor op costs
        # microseconds, and a compiled step of a small model takes only a couple of milliseconds.
        done = [False] * bsz
        longest = max(lengths)
        started = time.perf_counter()
        first_at: float | None = None
        prev = 0
        with self._known_graphs():
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
