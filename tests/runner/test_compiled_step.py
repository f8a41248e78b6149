"""The compiled one-token step gives the eager model's logits, on a plain model and on one with the CPU's speed work."""

from __future__ import annotations

import pytest
import torch

from llamadoctor.runner import cpu
from llamadoctor.runner.compiled import CompiledStep
from llamadoctor.runner.model import Transformer

from builders import llamas as testing


@pytest.mark.slow
@pytest.mark.parametrize("cpu_transforms", [False, True])
def test_the_compiled_step_gives_the_eager_logits(cpu_transforms: bool) -> None:
    args = testing.tiny_args("llama3", vocab_size=320)
    model = Transformer(args)
    model.load_state_dict(testing.random_state(args))
    model.eval().requires_grad_(False)
    if cpu_transforms:
        cpu.optimize_for_cpu(model, torch.float32, threads=2)
    ids = torch.arange(1, 12).unsqueeze(0)
    model.setup_cache(1, 32)
    full = model(ids, 0, all_logits=True)

    warnings: list[str] = []
    step = CompiledStep(model, warnings.append)
    model.setup_cache(1, 32)
    assert step.warm_up(1) > 0  # before the prefill, as a generation does: it writes a cache position
    model(ids[:, :4], 0)
    got = [step.logits(ids[:, i : i + 1], i + 1) for i in range(4, 11)]

    assert warnings == [] and step.works
    assert all(logits is not None for logits in got)
    torch.testing.assert_close(torch.cat(got, 1), full[:, 4:11], atol=1e-4, rtol=1e-4)
