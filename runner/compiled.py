"""The one-token decode step through torch.compile, and what to do when compiling does not work here.

The step is `Transformer.decode_hidden`: no per-op Python overhead, the small element-wise work between the
matrix-vector products fused. On the CPU the products of one row become Inductor's own parallel reductions
(`cpu.SplitLinear`'s batched form; faster than MKL's one-core gemv). The output projection stays outside the
graph (`Transformer.logits`): on the CPU its weight is column-major, which MKL's batched product streams at the
memory's speed while Inductor would rewrite it as a slow strided reduction. Prefill stays eager, and so do
model-parallel runs (collectives would break the graph).

Ways of compiling are tried best first; if none works here (no C++ compiler, an op the backend lacks), or a
recompile fails mid-run, decoding goes on eagerly after one warning that quotes the cause.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from typing import Any, Callable

import torch

from llamadoctor.i18n import _
from llamadoctor.runner.model import Transformer

Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_set_stance = getattr(torch.compiler, "set_stance", None)
_CAN_SKIP_GUARDS = _set_stance is not None and "skip_guard_eval_unsafe" in inspect.signature(_set_stance).parameters


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


class CompiledStep:
    """Logits of one new token per row through the compiled step, while compiling works; `None` once it does not
    (the caller then runs the model eagerly)."""

    def __init__(self, model: Transformer, warn: Callable[[str], None]) -> None:
        self.model = model
        self.warn = warn
        self.device = model.norm.weight.device
        self.step: Step | None = None
        self._options = list(compile_options(self.device))
        # What each graph was compiled for: the batch size, and whether the caller was in inference mode (a
        # guard of its own, which `known_graphs` would not let a step recompile for).
        self._compiled_for: set[tuple[int, bool]] = set()

    @property
    def works(self) -> bool:
        """Whether steps still go through the compiler (it has not fallen back to eager)."""
        return bool(self._options)

    def warm_up(self, bsz: int) -> float:
        """Compile for this batch size, trying each way in turn; the seconds it took. What it writes to the cache is
        overwritten before anything reads it: a step writes its own position before attending."""
        key = (bsz, torch.is_inference_mode_enabled())
        if not self._options or key in self._compiled_for:
            return 0.0
        started = time.perf_counter()
        zeros = torch.zeros((bsz, 1), dtype=torch.long, device=self.device)
        while self._options:
            if self.step is None:
                self.step = torch.compile(
                    self.model.decode_hidden, fullgraph=True, dynamic=False, options=self._options[0]
                )
            try:
                self._run(zeros, self._positions(2))
                self._compiled_for.add(key)
                break
            except Exception as exc:  # any compiler failure means: try the next way
                self._next_way(exc)
        return time.perf_counter() - started

    def _next_way(self, exc: Exception) -> None:
        # Start the next way from scratch: no graph of the failed one may be reused.
        self.step = None
        self._compiled_for.clear()
        torch._dynamo.reset()
        self._options.pop(0)
        if not self._options:
            self._give_up(exc)

    def _give_up(self, exc: Exception) -> None:
        self.step = None
        self._options.clear()
        # TRANSLATORS: {error} is the first line of the compiler's own error message.
        self.warn(_("warning: --compile failed ({error}); decoding without it.").format(error=_reason(exc)))

    def _positions(self, n: int) -> torch.Tensor:
        assert self.model.positions is not None
        return self.model.positions[:n]

    def _run(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        assert self.step is not None
        # The number of positions is the one size that changes from step to step: marked dynamic on every input,
        # so that a graph compiled again (for a caller's other grad mode, say) also serves every length.
        torch._dynamo.maybe_mark_dynamic(positions, 0)
        with torch.no_grad():  # the warm-up's grad mode, whatever the caller's: no graph of its own
            return self.model.logits(self.step(tokens, positions))

    def logits(self, tokens: torch.Tensor, cur: int) -> torch.Tensor | None:
        """Logits of `tokens` (one per row) at position `cur - 1`, attending to all positions before it; `None`
        when compiling does not work (any more)."""
        if self.step is None:
            return None
        # A fresh (bsz, 1) tensor: a slice keeps the row stride, and a new stride means a recompile.
        step_tokens = tokens.new_empty((tokens.shape[0], 1)).copy_(tokens)
        try:
            return self._run(step_tokens, self._positions(cur))
        except Exception as exc:  # a recompile that fails (or hits torch's limit) mid-run: finish eagerly
            # Safe to redo eagerly: the failed step can only have written this position's keys and values.
            self._give_up(exc)
            return None

    def known_graphs(self) -> contextlib.AbstractContextManager[object]:
        """Within a batch, after its warm-up: only the guards that tell the cached graphs apart are checked.

        The warm-up checked every guard for this batch size and this model, and nothing a graph reads is replaced
        before the batch ends (only the number of positions changes, and it is dynamic); the other guards, one per
        weight, cost 0.1 ms a step, 4% of a small model's. Needs torch >= 2.7."""
        if self.step is None or not _CAN_SKIP_GUARDS:
            return contextlib.nullcontext()
        return torch.compiler.set_stance(skip_guard_eval_unsafe=True)
