"""Weight-only quantization, applied to a loaded model like the CPU transforms: int8 with one scale per output
row, or int4 in groups of `INT4_GROUP` input columns with a scale and an offset per group.

The projections of every layer become `QuantLinear`s at the chosen precision; the output layer and the
embedding table become int8 in both cases (int4 there costs the most quality for the least memory). Every
other weight (the norms) keeps the run's dtype, and so do the activations and the KV cache.

Each weight is read in chunks of rows from the memory-mapped checkpoint and quantized chunk by chunk, the file
pages handed back as it goes (`layout.release_pages`), so loading peaks near the quantized size.

The products use the fastest kernel the installed torch has that gives the right answer on this device (each
probed once on a small matrix):
- int8 on an x86 CPU: fbgemm's dynamic int8 product (`quantized::linear_dynamic`), which quantizes the
  activations to 7 bits per row for each product and multiplies int8 by int8 (AVX2/AVX-512 integer dot
  products), as llama.cpp's Q8_0 does with its activations: 1.3-1.6x the weight-only kernel's speed for one
  row on a 2-core AVX-512 EPYC, 3-4x for 16-256 rows.
- Elsewhere torch's weight-only kernels, which take bf16 activations (their fp32 path is ten times slower on a
  CPU): `_weight_int8pack_mm`, and for int4 `_weight_int4pack_mm_for_cpu` on the CPU, `_weight_int4pack_mm`
  on CUDA.
- Where none works (torch < 2.3 without fbgemm, MPS, a kernel that fails its probe) the weight is dequantized
  for each product: slower, the same values.
For the logits, each row's largest are then recomputed from fp32 activations and the int8 codes, so what greedy
decoding and top-p sampling read is as exact as an fp32 product of the quantized weight.

The quantized layout (`QuantizedWeight`) is the same on every device; the kernels repack it for theirs:
- int8: `qweight` int8 (rows, cols); `scales` fp32 (rows,); w = qweight * scale.
- int4: `qweight` uint8 (rows, cols / 2), column 2i in the low nibble and 2i+1 in the high one; `scales` and
  `zeros` bf16 (rows, cols / group); w = (q - 8) * scale + zero, for q in 0..15.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from llamadoctor.llama.memory import INT4_GROUP, QUANTIZATIONS, int4_fits
from llamadoctor.runner import cpu, layout

CHUNK_BYTES = 16 << 20
# The kernels' activation dtypes: on an AVX2 CPU both kernels run fp32 rows about 10x slower than bf16 ones.
KERNEL_ROWS = {"int8": torch.bfloat16, "int4": torch.bfloat16}
INNER_K_TILES = 8  # CUDA int4 packing; the CPU packing takes 1
PACK_ROWS = 256
# The output layer runs on a fast kernel (fp32 rows on the weight-only kernel are 10x slower: a third of a 1.1B
# model's step) and its largest logits are recomputed exactly; `EXACT_BLOCK` rows at a time bound the
# recomputation's memory.
EXACT_TOP = 64
EXACT_BLOCK = 16


@dataclass(frozen=True)
class QuantizedWeight:
    kind: str  # "int8" | "int4"
    qweight: torch.Tensor
    scales: torch.Tensor
    zeros: torch.Tensor | None = None
    group: int = 0

    @property
    def shape(self) -> tuple[int, int]:
        rows = self.qweight.shape[0]
        return rows, self.qweight.shape[1] * (2 if self.kind == "int4" else 1)

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {"qweight": self.qweight, "scales": self.scales}
        if self.zeros is not None:
            out["zeros"] = self.zeros
        return out

    def dequantize(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        if self.kind == "int8":
            return self.qweight.to(dtype) * self.scales.to(dtype)[:, None]
        assert self.zeros is not None
        rows, cols = self.shape
        q = torch.stack((self.qweight & 0xF, self.qweight >> 4), dim=-1).view(rows, cols // self.group, self.group)
        scales, zeros = self.scales.to(dtype)[..., None], self.zeros.to(dtype)[..., None]
        return ((q.to(dtype) - 8) * scales + zeros).view(rows, cols)


def _chunks(weight: torch.Tensor) -> list[tuple[int, int]]:
    rows, cols = weight.shape
    step = max(1, CHUNK_BYTES // max(1, cols * weight.element_size()))
    return [(start, min(rows, start + step)) for start in range(0, rows, step)]


def _done_with(chunk: torch.Tensor, mapped: bool) -> None:
    if mapped:
        layout.release_pages(chunk)


@torch.no_grad()  # loaded weights are Parameters: no graph may keep chunks alive
def quantize_int8(weight: torch.Tensor) -> QuantizedWeight:
    """Symmetric int8 per output row, chunk by chunk from a (possibly memory-mapped) 2-D weight."""
    rows, cols = weight.shape
    qweight = torch.empty(rows, cols, dtype=torch.int8)
    scales = torch.empty(rows, dtype=torch.float32)
    mapped = layout.is_file_mapped(weight)
    for start, end in _chunks(weight):
        chunk = weight[start:end]
        w = chunk.to(torch.float32)
        scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127
        qweight[start:end] = (w / scale[:, None]).round_().clamp_(-127, 127).to(torch.int8)
        scales[start:end] = scale
        _done_with(chunk, mapped)
    return QuantizedWeight("int8", qweight, scales)


@torch.no_grad()
def quantize_int4(weight: torch.Tensor, group: int = INT4_GROUP) -> QuantizedWeight:
    """Asymmetric int4 in groups of `group` input columns (min..max spread over 0..15), chunk by chunk."""
    rows, cols = weight.shape
    if cols % group or group % 2:
        raise ValueError(f"{cols} columns do not divide into int4 groups of {group}")
    qweight = torch.empty(rows, cols // 2, dtype=torch.uint8)
    scales = torch.empty(rows, cols // group, dtype=torch.bfloat16)
    zeros = torch.empty(rows, cols // group, dtype=torch.bfloat16)
    mapped = layout.is_file_mapped(weight)
    for start, end in _chunks(weight):
        chunk = weight[start:end]
        w = chunk.to(torch.float32).view(end - start, cols // group, group)
        low, high = w.amin(dim=-1), w.amax(dim=-1)
        # The stored (bf16) scale and offset are the ones the codes are chosen for: dequantizing gives back
        # the nearest of the 16 levels the kernel will actually use.
        scale = ((high - low) / 15).clamp(min=1e-8).to(torch.bfloat16)
        zero = (low + 8 * scale.float()).to(torch.bfloat16)
        q = ((w - zero.float()[..., None]) / scale.float()[..., None] + 8).round_().clamp_(0, 15).to(torch.uint8)
        q = q.view(end - start, cols)
        qweight[start:end] = q[:, 0::2] | (q[:, 1::2] << 4)
        scales[start:end], zeros[start:end] = scale, zero
        _done_with(chunk, mapped)
    return QuantizedWeight("int4", qweight, scales, zeros, group)


def quantize_weight(weight: torch.Tensor, kind: str, group: int = INT4_GROUP) -> QuantizedWeight:
    if kind == "int8":
        return quantize_int8(weight)
    if kind == "int4":
        return quantize_int4(weight, group)
    raise ValueError(f"unknown quantization {kind!r}: use {' or '.join(QUANTIZATIONS)}")


# ---- the products ------------------------------------------------------------------------------------------


def _int4_pack(qw: QuantizedWeight, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The int4 kernel's weight layout and its (groups, rows, 2) scale-and-offset table for `device`."""
    rows = qw.shape[0]
    table = torch.stack((qw.scales, qw.zeros), dim=-1).transpose(0, 1).contiguous()  # type: ignore[arg-type]
    if device.type == "cpu":
        step = PACK_ROWS if _packs_by_rows() else rows
        blocks = [_cpu_pack(qw.qweight[start : start + step]) for start in range(0, rows, step)]
        return (blocks[0] if len(blocks) == 1 else torch.cat(blocks)), table
    # The CUDA packing takes the even column in the high nibble.
    swapped = ((qw.qweight & 0xF) << 4) | (qw.qweight >> 4)
    packed = torch.ops.aten._convert_weight_to_int4pack(swapped.to(device), INNER_K_TILES)
    return packed, table.to(device)


def _cpu_pack(qweight: torch.Tensor) -> torch.Tensor:
    rows, half = qweight.shape
    codes = torch.stack((qweight & 0xF, qweight >> 4), dim=-1).view(rows, 2 * half).to(torch.int32)
    return torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes, 1)


@cache
def _packs_by_rows() -> bool:
    """Whether the CPU packing of a block of `PACK_ROWS` rows is that block of the whole weight's packing (it
    is where the layout blocks rows by fewer): then the kernel's int32 input is made a block at a time, not for
    the whole weight (4 bytes a parameter)."""
    codes = torch.randint(0, 16, (2 * PACK_ROWS, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    qweight = codes[:, 0::2] | (codes[:, 1::2] << 4)
    try:
        whole = _cpu_pack(qweight)
        halves = torch.cat([_cpu_pack(qweight[:PACK_ROWS]), _cpu_pack(qweight[PACK_ROWS:])])
    except (RuntimeError, NotImplementedError):
        return False
    return whole.shape == halves.shape and bool((whole == halves).all())


DYNAMIC_INT8 = "quantized::linear_dynamic"


@cache
def dynamic_int8_works() -> bool:
    """Whether this torch runs int8 products on fbgemm, whose AVX2/AVX-512 kernels multiply int8 codes by int8
    activations (quantized per row for each product), and it gives the dequantized product's answer on a small
    matrix. x86 only: elsewhere the engine is QNNPACK, slower than the weight-only kernel."""
    if not cpu.on_fbgemm():
        return False
    gen = torch.Generator().manual_seed(0)
    weight, x = torch.randn(64, 256, generator=gen), torch.randn(3, 256, generator=gen)
    qw = quantize_int8(weight)
    try:
        got = _dynamic_int8(x, _prepack(qw))
    except (RuntimeError, NotImplementedError, TypeError, AttributeError):
        return False
    return cpu.answers_like(got, F.linear(x, qw.dequantize()), 2e-2)


def _prepack(qw: QuantizedWeight) -> Any:
    """fbgemm's packed form of int8 codes with one scale per row (a copy: the codes can go)."""
    rows = qw.shape[0]
    with cpu.fbgemm_packing():
        codes = torch._make_per_channel_quantized_tensor(
            qw.qweight, qw.scales.double(), torch.zeros(rows, dtype=torch.long), 0
        )
        return torch.ops.quantized.linear_prepack(codes, None)


def _dynamic_int8(x: torch.Tensor, packed: Any) -> torch.Tensor:
    """The product on fbgemm's int8 kernel. It quantizes its input with one scale for the whole tensor, so
    each row is scaled to the same largest value first: a row of small activations keeps its precision beside
    one with outliers (one row, a decode step, needs none). `reduce_range` keeps the activations to 7 bits, so
    AVX2's pairwise int16 sums cannot saturate."""
    x = x.float()
    if x.shape[0] == 1:
        return torch.ops.quantized.linear_dynamic(x, packed, True)
    peak = x.abs().amax(dim=1, keepdim=True).clamp_(min=1e-12)
    return torch.ops.quantized.linear_dynamic(x / peak, packed, True) * peak


def _int4_op(device: torch.device) -> str | None:
    name = "_weight_int4pack_mm_for_cpu" if device.type == "cpu" else "_weight_int4pack_mm"
    return name if device.type in ("cpu", "cuda") and hasattr(torch.ops.aten, name) else None


class QuantLinear(nn.Module):
    """A bias-free projection whose weight is int8 or int4 (`QuantizedWeight`); `kernel` says how it runs."""

    qweight: torch.Tensor
    scales: torch.Tensor
    zeros: torch.Tensor
    exact_scales: torch.Tensor
    exact_top = 0
    packed_bytes = 0  # what `packed`, a kernel's own object rather than a buffer, holds

    def __init__(
        self,
        qw: QuantizedWeight,
        device: torch.device,
        use_kernel: bool = True,
        rows: torch.dtype | None = None,
        exact_top: int = 0,
        traceable: bool = False,
    ) -> None:
        """`rows`: the dtype the weight-only kernel takes the activations in (default `KERNEL_ROWS`).
        `exact_top`: for the logits, how many of each row's largest outputs are recomputed in fp32 (int8 only).
        `traceable`: no kernel that packs the weight into an object of its own, which torch.compile cannot trace."""
        super().__init__()
        self.out_features, self.in_features = qw.shape
        self.kind, self.group = qw.kind, qw.group
        self.kernel = "dequantize"
        rows = rows or KERNEL_ROWS[qw.kind]
        if use_kernel and not traceable and qw.kind == "int8" and device.type == "cpu" and dynamic_int8_works():
            self.kernel = DYNAMIC_INT8
            self.packed = _prepack(qw)
            self.packed_bytes = sum(t.numel() * t.element_size() for t in qw.tensors().values())
            if exact_top:
                self.exact_top = min(exact_top, self.out_features)
                self.register_buffer("qweight", qw.qweight, persistent=False)
                self.register_buffer("exact_scales", qw.scales.to(torch.float32), persistent=False)
            elif layout.is_file_mapped(qw.qweight):  # codes read from a quantized folder: fbgemm holds its copy
                layout.release_pages(qw.qweight)
        elif use_kernel and kernel_works(qw.kind, device.type, qw.group, rows):
            self._use_kernel(qw, device, rows)
            if exact_top and qw.kind == "int8" and rows != torch.float32:
                self.exact_top = min(exact_top, self.out_features)
                self.register_buffer("exact_scales", qw.scales.to(device, torch.float32), persistent=False)
        else:
            for name, tensor in qw.tensors().items():
                self.register_buffer(name, tensor.to(device), persistent=False)

    @classmethod
    def from_float(
        cls, weight: torch.Tensor, kind: str, group: int = INT4_GROUP, use_kernel: bool = True
    ) -> QuantLinear:
        return cls(quantize_weight(weight, kind, group), weight.device, use_kernel)

    def _use_kernel(self, qw: QuantizedWeight, device: torch.device, rows: torch.dtype) -> None:
        if qw.kind == "int8":
            self.kernel = "_weight_int8pack_mm"
            self.register_buffer("qweight", qw.qweight.to(device), persistent=False)
            self.register_buffer("scales", qw.scales.to(device=device, dtype=rows), persistent=False)
            return
        self.kernel = str(_int4_op(device))
        packed, table = _int4_pack(qw, device)
        self.register_buffer("qweight", packed, persistent=False)
        self.register_buffer("scales", table.to(rows), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features)
        if self.kernel == DYNAMIC_INT8:
            y = _dynamic_int8(flat, self.packed)
            if self.exact_top:
                y = self._exact_top(flat, y)
        elif self.kernel == "dequantize":
            y = self._dequantized(flat)
        elif self.kind == "int8":
            y = torch.ops.aten._weight_int8pack_mm(flat.to(self.scales.dtype), self.qweight, self.scales)
            if self.exact_top:
                y = self._exact_top(flat, y)
        else:
            op = getattr(torch.ops.aten, self.kernel)
            y = op(flat.to(self.scales.dtype), self.qweight, self.group, self.scales)
        return y.to(x.dtype).view(*x.shape[:-1], self.out_features)

    def _exact_top(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """`y` (the kernel's products) in fp32, with each row's `exact_top` largest recomputed from fp32
        activations: bf16 rounds logits 0.4% apart to one value, 7-bit activations blur them by about as much,
        and a greedy pick among them would be a coin toss; the top of every row, which greedy and top-p sampling
        read, is then as an fp32 product gives it."""
        out = y.float()
        top = out.topk(self.exact_top, dim=-1).indices
        for start in range(0, x.shape[0], EXACT_BLOCK):
            idx = top[start : start + EXACT_BLOCK]
            flat = idx.reshape(-1)  # index_select: indexing by a 2-d tensor is 100x slower here
            rows = self.qweight.index_select(0, flat).to(torch.float32)
            weights = (rows * self.exact_scales.index_select(0, flat).unsqueeze(-1)).view(*idx.shape, -1)
            exact = torch.bmm(weights, x[start : start + EXACT_BLOCK].float().unsqueeze(-1)).squeeze(-1)
            out[start : start + EXACT_BLOCK].scatter_(-1, idx, exact)
        return out

    def _dequantized(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "int8":
            return F.linear(x, self.qweight.to(x.dtype)) * self.scales.to(x.dtype)
        qw = QuantizedWeight("int4", self.qweight, self.scales, self.zeros, self.group)
        return F.linear(x, qw.dequantize(x.dtype))

    def extra_repr(self) -> str:
        group = f", group={self.group}" if self.kind == "int4" else ""
        exact = f", exact_top={self.exact_top}" if self.exact_top else ""
        return f"{self.in_features}, {self.out_features}, {self.kind}{group}, kernel={self.kernel}{exact}"


@cache
def kernel_works(kind: str, device_type: str, group: int = INT4_GROUP, rows: torch.dtype | None = None) -> bool:
    """Whether this torch has the weight-only kernel for `kind` on the device and it gives the dequantized
    product's answer on a small matrix (signatures and layouts changed between torch releases)."""
    device = torch.device(device_type)
    if kind == "int8" and not hasattr(torch.ops.aten, "_weight_int8pack_mm"):
        return False
    if kind == "int4" and _int4_op(device) is None:
        return False
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(64, 4 * max(group, 32), generator=gen)
    x = torch.randn(3, weight.shape[1], generator=gen)
    qw = quantize_weight(weight, kind, group)
    try:
        layer = QuantLinear.__new__(QuantLinear)
        nn.Module.__init__(layer)
        layer.out_features, layer.in_features = qw.shape
        layer.kind, layer.group = kind, group
        layer._use_kernel(qw, device, rows or KERNEL_ROWS[kind])
        got = layer(x.to(device)).float().cpu()
    except (RuntimeError, NotImplementedError, TypeError):
        return False
    return cpu.answers_like(got, F.linear(x, qw.dequantize()), 2e-2)


def has_int8_kernel(device_type: str = "cpu") -> bool:
    return kernel_works("int8", device_type)


# ---- the model ---------------------------------------------------------------------------------------------


class QuantEmbedding(nn.Module):
    """The token embedding as int8 rows with one scale each, looked up as `dtype`."""

    qweight: torch.Tensor
    scales: torch.Tensor

    def __init__(self, qw: QuantizedWeight, device: torch.device, dtype: torch.dtype) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = qw.shape
        self.dtype = dtype
        self.register_buffer("qweight", qw.qweight.to(device), persistent=False)
        self.register_buffer("scales", qw.scales.to(device), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        rows = self.qweight[tokens].to(torch.float32) * self.scales[tokens].unsqueeze(-1)
        return rows.to(self.dtype)


def kind_of(name: str, weight_shape: tuple[int, ...], kind: str, group: int = INT4_GROUP) -> str:
    """The precision one weight is stored at under `kind`: the layers' projections at `kind`, the output layer,
    the embedding and any projection int4 groups cannot tile at int8."""
    if kind == "int4" and name.startswith("layers.") and int4_fits(weight_shape[0], weight_shape[1], group):
        return "int4"
    return "int8"


@torch.no_grad()
def quantize_model(
    model: nn.Module,
    kind: str,
    device: torch.device,
    dtype: torch.dtype,
    group: int = INT4_GROUP,
    traceable: bool = False,
) -> None:
    """Replace the projections, output layer and embedding of a model whose weights are loaded (memory-mapped)
    by their quantized forms on `device`, one weight at a time."""
    embedding = getattr(model, "tok_embeddings", None)
    output = getattr(model, "output", None)
    tied = (
        isinstance(embedding, nn.Embedding)
        and isinstance(output, nn.Linear)
        and embedding.weight.data_ptr() == output.weight.data_ptr()
    )
    for name, parent, attr, linear in _linears(model):
        qw = quantize_weight(linear.weight, kind_of(name, tuple(linear.weight.shape), kind, group), group)
        exact = EXACT_TOP if linear is output else 0
        setattr(parent, attr, QuantLinear(qw, device, exact_top=exact, traceable=traceable))
        layout.return_freed_heap()  # this weight's temporaries, before the next weight's codes are placed
        if tied and linear is output:
            assert isinstance(embedding, nn.Embedding)
            model.tok_embeddings = QuantEmbedding(qw, device, dtype)  # type: ignore[assignment]
    if isinstance(embedding, nn.Embedding) and not tied:
        model.tok_embeddings = QuantEmbedding(quantize_int8(embedding.weight), device, dtype)  # type: ignore[assignment]


def _linears(model: nn.Module) -> list[tuple[str, nn.Module, str, nn.Linear]]:
    found = []
    for parent_name, parent in model.named_modules():
        for attr, child in parent.named_children():
            if isinstance(child, nn.Linear):
                found.append((f"{parent_name}.{attr}" if parent_name else attr, parent, attr, child))
    return found


@torch.no_grad()
def install_quantized(
    model: nn.Module,
    stored: Callable[[str, tuple[int, int]], QuantizedWeight],
    device: torch.device,
    dtype: torch.dtype,
    traceable: bool = False,
) -> None:
    """`quantize_model` for weights quantized before (a folder `convert --quantize` wrote): `stored(name, shape)`
    gives the codes of the module `name` whose float weight has `shape`, and they become the same layers."""
    output = getattr(model, "output", None)
    for name, parent, attr, linear in _linears(model):
        qw = stored(name, (linear.out_features, linear.in_features))
        exact = EXACT_TOP if linear is output else 0
        setattr(parent, attr, QuantLinear(qw, device, exact_top=exact, traceable=traceable))
    embedding = getattr(model, "tok_embeddings", None)
    if isinstance(embedding, nn.Embedding):
        qw = stored("tok_embeddings", (embedding.num_embeddings, embedding.embedding_dim))
        model.tok_embeddings = QuantEmbedding(qw, device, dtype)  # type: ignore[assignment]
