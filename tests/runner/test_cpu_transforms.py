"""The CPU's speed work applied to a plain model: the same logits, in the layout and blocks the CPU runs fastest."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from llamadoctor.runner import cpu, loader
from llamadoctor.runner.distributed import SINGLE
from llamadoctor.runner.model import Transformer

from builders import llamas as testing


def _plain_model(vocab_size: int = 300) -> Transformer:
    args = testing.tiny_args("llama3", vocab_size=vocab_size)
    model = Transformer(args)
    model.load_state_dict(testing.random_state(args))
    return model.eval()


def _projections(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def test_the_model_is_plain_until_the_cpu_transforms_are_applied() -> None:
    model = _plain_model(vocab_size=320)  # every width divides by 4
    ids = torch.arange(1, 9).unsqueeze(0)
    model.setup_cache(1, 32)
    before = model(ids, 0, all_logits=True)
    assert {type(m) for m in _projections(model)} == {nn.Linear}
    assert model.output.weight.is_contiguous()

    cpu.optimize_for_cpu(model, torch.float32, threads=4)

    assert {type(m) for m in _projections(model)} == {cpu.SplitLinear}
    assert all(m.splits == 4 for m in _projections(model))
    assert model.output.weight.stride() == (1, 320)
    model.setup_cache(1, 32)
    torch.testing.assert_close(model(ids, 0, all_logits=True), before, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("rows", [1, 5, 200])
def test_split_projections_give_the_unsplit_logits(rows) -> None:
    """Few-row products run as blocks of output rows on the CPU; past `SplitLinear.few_rows` rows, or where a
    width does not divide, as one product. Either way the logits are those of plain F.linear."""
    model = _plain_model()
    ids = torch.arange(1, rows + 1).unsqueeze(0) % 300
    logits = {}
    for splits in (1, 4, 3):  # 4 divides every width; 3 only the vocab (300), not 64, 32 or 224
        model.setup_cache(1, 256)
        cpu.split_projections(model, splits)
        logits[splits] = model(ids, 0, all_logits=True)
    assert type(model.layers[0].attention.wq) is nn.Linear and model.output.splits == 3
    torch.testing.assert_close(logits[4], logits[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits[3], logits[1], atol=1e-5, rtol=1e-5)


def test_splitting_keeps_a_tied_output_on_the_embedding_table() -> None:
    model = _plain_model()
    model.output.weight = model.tok_embeddings.weight
    cpu.optimize_for_cpu(model, torch.float32, threads=3)
    assert model.output.splits == 3
    assert model.output.weight is model.tok_embeddings.weight  # one parameter, not two sharing memory
    assert model.output.weight.is_contiguous()


def test_a_cpu_load_splits_the_projections_over_the_threads(model_dir) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = loader.load(model_dir("llama2", "meta"), SINGLE, torch.device("cpu"), torch.float32)
    finally:
        torch.set_num_threads(threads)
    assert model.layers[0].attention.wq.splits == 2 and model.output.splits == 2


def _needs_half_kernel() -> None:
    if not cpu.half_kernel_works():
        pytest.skip(f"torch {torch.__version__} has no working fbgemm fp16 product here")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_projections_run_on_fbgemm_with_the_same_logits(dtype) -> None:
    """bf16 and fp16 weights are fp16 values: on fbgemm's fp16 product a half-precision model answers as on
    torch's own product, the same greedy tokens and logits within the dtype's rounding."""
    _needs_half_kernel()
    ids = torch.arange(1, 9).unsqueeze(0)
    logits, tokens = {}, {}
    for transformed in (False, True):
        model = _plain_model().to(dtype)
        if transformed:
            cpu.optimize_for_cpu(model, dtype)
            assert {type(m) for m in model.modules() if hasattr(m, "in_features")} == {cpu.HalfLinear}
        model.setup_cache(1, 32)
        logits[transformed] = model(ids, 0, all_logits=True).float()
        step = logits[transformed][0, -1]
        tokens[transformed] = [int(step.argmax())]
        for pos in range(8, 20):
            step = model(torch.tensor([[tokens[transformed][-1]]]), pos)[0, -1].float()
            tokens[transformed].append(int(step.argmax()))
    torch.testing.assert_close(logits[True], logits[False], atol=0.05, rtol=0.02)
    assert tokens[True] == tokens[False]


def test_a_half_weight_beyond_fp16s_range_keeps_torchs_product() -> None:
    _needs_half_kernel()
    model = _plain_model().to(torch.bfloat16)
    with torch.no_grad():
        model.layers[0].attention.wq.weight[0, 0] = 1e6  # a bf16 value, but infinite in fp16
    cpu.optimize_for_cpu(model, torch.bfloat16)
    assert type(model.layers[0].attention.wq) is nn.Linear
    assert type(model.layers[0].attention.wk) is cpu.HalfLinear


def test_an_fp32_weight_that_bf16_rounds_past_fp16s_range_keeps_torchs_product() -> None:
    """65500 fits fp16, but as bf16 (what the run computes with) it is 65536, which fp16 cannot hold."""
    _needs_half_kernel()
    model = _plain_model()
    with torch.no_grad():
        model.layers[0].feed_forward.w2.weight[0, 0] = 65500.0
    cpu.optimize_for_cpu(model, torch.bfloat16)
    assert type(model.layers[0].feed_forward.w2) is nn.Linear
    assert type(model.layers[0].feed_forward.w1) is cpu.HalfLinear


def test_a_tied_half_output_stays_the_embedding_table() -> None:
    _needs_half_kernel()
    model = _plain_model().to(torch.bfloat16)
    model.output.weight = model.tok_embeddings.weight
    cpu.optimize_for_cpu(model, torch.bfloat16)
    assert model.output.weight is model.tok_embeddings.weight
    assert type(model.layers[0].feed_forward.w1) is cpu.HalfLinear


def test_weights_below_fp16s_normal_range_stay_within_its_step() -> None:
    _needs_half_kernel()
    weight = torch.tensor([[3e-7, -2e-5, 0.02, 1.5]], dtype=torch.bfloat16).repeat(8, 16)
    layer = cpu.HalfLinear(weight, torch.bfloat16)
    for col in range(4):
        x = torch.zeros(1, 64, dtype=torch.bfloat16)
        x[0, col] = 1
        got, want = layer(x).float()[0, 0], weight[0, col].float()
        assert abs(float(got - want)) <= max(3e-8, float(want.abs()) * 2**-8)


def test_a_traceable_half_model_keeps_torchs_products() -> None:
    """torch.compile cannot trace fbgemm's packed weights: `run --compile` keeps torch's own products."""
    model = _plain_model().to(torch.bfloat16)
    cpu.optimize_for_cpu(model, torch.bfloat16, traceable=True)
    assert {type(m) for m in model.modules() if hasattr(m, "in_features")} == {nn.Linear}
