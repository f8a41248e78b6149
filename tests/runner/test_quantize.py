"""`run --quantize`: int8 and int4 weights answer like fp32 on the same random weights, on the kernels and on
the dequantizing fallback, and load from the memory-mapped checkpoint one weight at a time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from llamadoctor.runner import loader, quantize
from llamadoctor.runner.distributed import SINGLE
from llamadoctor.runner.model import Transformer

from builders import llamas

STEPS = 32
PROMPT = [1, 17, 42, 99, 7, 250, 3, 64]


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One thread: the products are small, and on a loaded machine two threads wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random weights at dim 256 (int4 groups of 32 are real groups, 8 per row), shaped as a trained model's are
    where quantization meets them: the residual stream is larger than each layer's update to it (a fully random
    network amplifies any error layer after layer), and the greedy choice stands clear of the runner-up (on
    random logits near-ties make greedy tokens a coin toss even for fp32 summed in another order)."""
    args = llamas.tiny_args("llama3", vocab_size=512, dim=256, n_layers=2)
    state = llamas.random_state(args, seed=3)
    state["tok_embeddings.weight"] *= args.dim**0.5  # unit-sized entries, as the normed inputs of the layers
    for key in state:
        if key.endswith(("attention.wo.weight", "feed_forward.w2.weight")):
            state[key] *= 0.5
    order = torch.randperm(args.vocab_size, generator=torch.Generator().manual_seed(3))
    state["output.weight"] += state["tok_embeddings.weight"][order] / args.dim**0.5
    return llamas.write_meta(tmp_path_factory.mktemp("q") / "m", args, state, "llama3")


def _load(folder: Path, quantization: str | None) -> Transformer:
    model = loader.load(folder, SINGLE, torch.device("cpu"), torch.float32, quantization)
    model.setup_cache(1, len(PROMPT) + STEPS + 1)
    return model


def _greedy(model: Transformer, follow: list[int] | None = None) -> tuple[list[int], list[torch.Tensor]]:
    """Greedy tokens and each step's logits; with `follow`, those tokens are fed instead of its own."""
    logits = model(torch.tensor([PROMPT]), 0)[0, -1]
    tokens, steps = [], [logits]
    for i in range(STEPS):
        tokens.append(int(logits.argmax()))
        fed = follow[i] if follow is not None else tokens[-1]
        logits = model(torch.tensor([[fed]]), len(PROMPT) + i)[0, -1]
        steps.append(logits)
    return tokens, steps


def _cosines(a: list[torch.Tensor], b: list[torch.Tensor]) -> list[float]:
    return [float(F.cosine_similarity(x, y, dim=0)) for x, y in zip(a, b)]


def _take(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """How the products run: int8 activations on fbgemm (int8 layers on x86), the weight-only kernels, or the
    dequantizing fallback."""
    if path != "dynamic":
        monkeypatch.setattr(quantize, "dynamic_int8_works", lambda: False)
    if path == "fallback":
        monkeypatch.setattr(quantize, "kernel_works", lambda *a, **k: False)


@pytest.mark.parametrize(
    ("kind", "path", "least"),
    [
        ("int8", "dynamic", 0.999),
        ("int8", "kernel", 0.999),
        ("int8", "fallback", 0.999),
        ("int4", "kernel", 0.99),
        ("int4", "fallback", 0.99),
    ],
)
def test_every_decode_step_answers_like_fp32(
    wide_model: Path, kind: str, path: str, least: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    if path == "kernel" and not quantize.kernel_works(kind, "cpu"):
        pytest.skip(f"torch {torch.__version__} has no working {kind} weight-only kernel on the CPU")
    if path == "dynamic" and not quantize.dynamic_int8_works():
        pytest.skip(f"torch {torch.__version__} has no working fbgemm int8 kernel here")
    _take(path, monkeypatch)
    want_tokens, want = _greedy(_load(wide_model, None))
    model = _load(wide_model, kind)
    layers = {m.kernel for n, m in model.named_modules() if isinstance(m, quantize.QuantLinear) and n != "output"}
    assert ("dequantize" in layers) == (path == "fallback")
    assert (quantize.DYNAMIC_INT8 in layers) == (path == "dynamic")
    _, got = _greedy(model, follow=want_tokens)
    assert min(_cosines(want, got)) >= least
    if kind == "int8":
        model.setup_cache(1, len(PROMPT) + STEPS + 1)
        own_tokens, _ = _greedy(model)
        assert own_tokens == want_tokens


def test_the_layers_are_quantized_and_the_rest_is_int8(wide_model: Path) -> None:
    model = _load(wide_model, "int4")
    kinds = {name: m.kind for name, m in model.named_modules() if isinstance(m, quantize.QuantLinear)}
    assert kinds["output"] == "int8"
    assert {k for n, k in kinds.items() if n.startswith("layers.")} == {"int4"}
    assert isinstance(model.tok_embeddings, quantize.QuantEmbedding)
    assert not [n for n, p in model.named_parameters() if p.dim() > 1]  # no full-precision matrix left


@pytest.mark.parametrize("kind", ["int8", "int4"])
def test_stored_codes_give_back_the_weight(kind: str) -> None:
    weight = torch.randn(48, 256) / 16
    qw = quantize.quantize_weight(weight, kind, 32)
    err = (qw.dequantize() - weight).abs()
    # Half a step of the grid at most: a step is 1/127 of the row's largest value (int8), 1/15 of the group's range.
    step = weight.abs().amax(1, keepdim=True) / 127 if kind == "int8" else (qw.scales.float().repeat_interleave(32, 1))
    assert bool((err <= step * 0.51 + 1e-3).all())


def test_a_weight_int4_groups_cannot_tile_stays_int8() -> None:
    assert quantize.kind_of("layers.0.feed_forward.w2.weight", (64, 100), "int4") == "int8"
    assert quantize.kind_of("layers.0.feed_forward.w2.weight", (64, 128), "int4") == "int4"
    assert quantize.kind_of("output.weight", (512, 256), "int4") == "int8"


def test_the_top_logits_are_exact_where_bf16_would_tie_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two logits 0.004 apart near 4.25 round to one bf16 value: the output layer's bf16 kernel alone would make
    the greedy pick the lower id; the recomputed top gives the fp32 answer, and every other logit stays within
    bf16's rounding."""
    cols = 64
    weight = torch.full((40, cols), 0.01)
    weight[0], weight[1] = 4.252 / cols, 4.256 / cols  # a constant row quantizes exactly: 127 times its scale
    x = torch.ones(1, cols)
    exact = F.linear(x, weight)
    qw = quantize.quantize_weight(weight, "int8")
    refined = quantize.QuantLinear(qw, torch.device("cpu"), exact_top=4)
    assert int(refined(x).argmax()) == 1
    assert torch.allclose(refined(x)[0, :2], exact[0, :2], rtol=1e-6)
    assert torch.allclose(refined(x), exact, rtol=2**-8)
    if quantize.has_int8_kernel("cpu"):
        monkeypatch.setattr(quantize, "dynamic_int8_works", lambda: False)
        bf16_only = quantize.QuantLinear(qw, torch.device("cpu"))
        assert float(bf16_only(x)[0, 0]) == float(bf16_only(x)[0, 1])  # the tie the recomputation breaks


def test_a_prompt_row_keeps_its_precision_beside_a_row_with_outliers() -> None:
    """fbgemm quantizes a product's whole input with one scale: unscaled, a prompt token with small activations
    next to one with an outlier 1000 times larger would be rounded to nothing."""
    if not quantize.dynamic_int8_works():
        pytest.skip(f"torch {torch.__version__} has no working fbgemm int8 kernel here")
    gen = torch.Generator().manual_seed(1)
    weight = torch.randn(96, 256, generator=gen) / 16
    x = torch.randn(2, 256, generator=gen)
    x[1, 7] = 1000.0
    layer = quantize.QuantLinear(quantize.quantize_weight(weight, "int8"), torch.device("cpu"))
    assert layer.kernel == quantize.DYNAMIC_INT8
    got, want = layer(x), F.linear(x, weight)
    for row in range(2):  # each row about as precise as when it is the product's only one, a decode step
        error = float((got[row] - want[row]).norm() / want[row].norm())
        alone = float((layer(x[row : row + 1])[0] - want[row]).norm() / want[row].norm())
        assert error < max(2 * alone, 2e-2)


def test_the_top_logits_are_exact_on_the_int8_activation_kernel() -> None:
    if not quantize.dynamic_int8_works():
        pytest.skip(f"torch {torch.__version__} has no working fbgemm int8 kernel here")
    gen = torch.Generator().manual_seed(2)
    weight = torch.randn(512, 256, generator=gen) / 16
    x = torch.randn(3, 256, generator=gen)
    qw = quantize.quantize_weight(weight, "int8")
    layer = quantize.QuantLinear(qw, torch.device("cpu"), exact_top=8)
    assert layer.kernel == quantize.DYNAMIC_INT8
    got, want = layer(x), F.linear(x, qw.dequantize())
    top = want.topk(8, dim=-1).indices
    assert torch.allclose(got.gather(-1, top), want.gather(-1, top), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got, want, rtol=1e-5, atol=1e-5)  # the rest is the kernel's, 7-bit activations


def test_a_traceable_quantized_model_packs_no_weight_into_fbgemm(wide_model: Path) -> None:
    """torch.compile cannot trace fbgemm's packed weights: `run --compile` keeps the traceable kernels."""
    state = loader.read_rank_state(wide_model, SINGLE)
    model = loader.build_model(state, SINGLE, torch.device("cpu"), torch.float32, "int8", traceable=True)
    kernels = {m.kernel for m in model.modules() if isinstance(m, quantize.QuantLinear)}
    assert kernels and quantize.DYNAMIC_INT8 not in kernels
