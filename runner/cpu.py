"""The CPU's speed work, applied to a loaded model: same values, laid out and blocked as the CPU runs them
fastest (`optimize_for_cpu`).

- The projections' products of a few rows run as blocks of output rows, one per thread (`SplitLinear`). A
  decode step multiplies each weight by one row per sequence: memory-bound work, which MKL runs on a single
  core, so it gets one core's share of the memory bandwidth (measured on a 2-core EPYC: 12-25 GB/s of 30).
  Viewed as blocks of output rows (no copy) and run as one batched product, every thread streams a block of its
  own. Under torch.compile the one-row case becomes Inductor's own fused reduction, parallel the same way.
- The output layer is stored column-major. Row-major, as the checkpoint has it, each of its tens of thousands
  of outputs is a short dot product, which MKL and Inductor both run well below the memory's speed when dim is
  small (20-26 GB/s at dim 288 on a machine whose memory gives 35). Column-major, the product is a sum of scaled
  columns that MKL streams at the memory's speed: stories15M decodes 1.1-1.4x faster, 110M-sized models 1.05x,
  and from dim 2048 on it makes no difference. The copy is made without holding a second one (`layout`).
- bf16 and fp16 projections run on fbgemm's fp16 product (`HalfLinear`), x86 only: torch's own bf16 product of
  one row streams its weight at a third of the memory's speed (15 of 45 GB/s on a 2-core EPYC with AVX-512
  bf16), fbgemm's at 28-31, and a decode step is such products. Every bf16 value in fp16's normal range (6.1e-5
  to 65504) is an fp16 value too, and the product multiplies fp32 activations and accumulates in fp32 as torch's
  does: the same values but for weights smaller than 6.1e-5, which fp16 keeps to within 3e-8. The price is the
  prompt: products of 64-256 rows run at 0.6-0.5x torch's speed on that CPU (native bf16 there).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from llamadoctor.runner import layout
from llamadoctor.runner.model import Transformer


class SplitLinear(nn.Linear):
    """A bias-free projection whose products of a few rows run as `splits` blocks of output rows at once."""

    # Up to here the split product was faster than MKL's one matrix product (1.1-1.7x at 110M's shapes, 2 cores);
    # by 256 rows it was 7% slower: enough rows make the product compute-bound, which MKL threads well.
    few_rows = 128

    def __init__(self, weight: torch.Tensor, splits: int) -> None:
        with torch.device("meta"):  # the weight is the one given: allocate and initialise nothing
            super().__init__(weight.shape[1], weight.shape[0], bias=False)
        # The same Parameter, not a new one: a tied output layer stays one parameter with the embedding table.
        self.weight = weight if isinstance(weight, nn.Parameter) else nn.Parameter(weight, requires_grad=False)
        self.splits = splits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // x.shape[-1]
        if rows > self.few_rows:
            return F.linear(x, self.weight)
        out, inp = self.weight.shape
        blocks = self.weight.view(self.splits, out // self.splits, inp).transpose(1, 2)
        y = torch.bmm(x.reshape(1, rows, inp).expand(self.splits, rows, inp), blocks)
        return y.transpose(0, 1).reshape(*x.shape[:-1], out)


HALF_MAX = 65504.0  # fp16's largest value
HALF_DTYPES = (torch.bfloat16, torch.float16)


class HalfLinear(nn.Module):
    """A bias-free projection of bf16 or fp16 weights held in fbgemm's packed fp16 form; it takes and gives the
    run's dtype, and multiplies in fp32."""

    packed_bytes = 0  # what `packed`, fbgemm's own object rather than a buffer, holds

    def __init__(self, weight: torch.Tensor, dtype: torch.dtype) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.packed = _pack_half(weight.to(dtype))
        self.packed_bytes = weight.numel() * 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.ops.quantized.linear_dynamic_fp16(x.reshape(-1, self.in_features).float(), self.packed)
        return y.to(x.dtype).view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, kernel=quantized::linear_dynamic_fp16"


def _pack_half(weight: torch.Tensor) -> Any:
    with fbgemm_packing():
        return torch.ops.quantized.linear_prepack_fp16(weight.float(), None)


@contextmanager
def fbgemm_packing() -> Iterator[None]:
    """Quiet: torch warns at every use that its quantized tensors are deprecated. The kernels used are probed at
    first use, and a run falls back to torch's own products on a torch that no longer has them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def answers_like(got: torch.Tensor, want: torch.Tensor, tolerance: float) -> bool:
    """A kernel's probe: its product `got` is finite and within `tolerance` (relative) of the reference."""
    got = got.float()
    return bool(torch.isfinite(got).all()) and float((got - want).norm() / want.norm()) < tolerance


def on_fbgemm() -> bool:
    """Whether torch's quantized products run on fbgemm: x86 builds (elsewhere QNNPACK, which is slower than
    torch's plain products for one row)."""
    return torch.backends.quantized.engine in ("x86", "fbgemm")


@cache
def half_kernel_works() -> bool:
    """Whether this torch has fbgemm's fp16 product and it gives a bf16 product's answer on a small matrix."""
    if not on_fbgemm():
        return False
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(48, 128, generator=gen).to(torch.bfloat16)
    x = torch.randn(3, 128, generator=gen).to(torch.bfloat16)
    try:
        got = HalfLinear(weight, torch.bfloat16)(x)
    except (RuntimeError, NotImplementedError, TypeError, AttributeError):
        return False
    return answers_like(got, F.linear(x.float(), weight.float()), 1e-2)


def optimize_for_cpu(
    model: Transformer, dtype: torch.dtype, threads: int | None = None, traceable: bool = False
) -> None:
    """Apply the CPU's speed work to a model whose weights are loaded, before any other copy or cast of them is
    made. `threads` defaults to torch's; `traceable` keeps torch's own products, which torch.compile can trace.

    fp32 gets a column-major output layer and split projections. bf16 and fp16 get fbgemm's fp16 product where
    it works; elsewhere they stay as they are: a bf16 product of one row is already threaded (1.3x faster than
    the split form, 5632x2048 on 2 cores), and a column-major bf16 output layer is the slowest layout of all:
    270 ms a step for a 32000x2048 one, against 8 ms row-major, on an AVX2 CPU without native bf16."""
    if dtype in HALF_DTYPES and not traceable and half_kernel_works():
        half_products(model, dtype)
    if dtype != torch.float32:
        return
    column_major_output(model, dtype)
    split_projections(model, torch.get_num_threads() if threads is None else threads)


@torch.no_grad()  # loaded weights are Parameters
def half_products(model: Transformer, dtype: torch.dtype) -> None:
    """Each bias-free projection whose weight fits fp16's range becomes a `HalfLinear`, one weight at a time,
    its mapped file pages handed back as it goes; a tied output layer stays the embedding table."""
    tied = model.output.weight.data_ptr() == model.tok_embeddings.weight.data_ptr()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if not isinstance(child, nn.Linear) or child.bias is not None or (tied and child is model.output):
                continue
            weight = child.weight
            values = weight.to(dtype)  # the run's values: the checkpoint's own, or one weight's cast of them
            low, high = torch.aminmax(values)  # no temporary the size of the weight
            if max(-float(low), float(high)) > HALF_MAX:
                continue
            setattr(parent, name, HalfLinear(values, dtype))
            del values
            if layout.is_file_mapped(weight):
                layout.release_pages(weight)


def column_major_output(model: Transformer, dtype: torch.dtype) -> None:
    """The output layer's weight as `dtype`, column-major; a tied output stays the embedding table."""
    if model.output.weight.data_ptr() == model.tok_embeddings.weight.data_ptr():
        return
    model.output.weight = nn.Parameter(layout.column_major(model.output.weight, dtype), requires_grad=False)


def split_projections(model: nn.Module, splits: int) -> None:
    """Each bias-free projection whose output rows divide into `splits` blocks becomes a `SplitLinear`; the
    others (and all of them for 1) a plain `nn.Linear` on the same weight."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear) and child.bias is None:
                setattr(parent, name, _split(child, splits))


def _split(linear: nn.Linear, splits: int) -> nn.Linear:
    if splits > 1 and linear.weight.shape[0] % splits == 0:
        return SplitLinear(linear.weight, splits)
    if type(linear) is nn.Linear:
        return linear
    with torch.device("meta"):
        plain = nn.Linear(linear.in_features, linear.out_features, bias=False)
    plain.weight = linear.weight
    return plain
