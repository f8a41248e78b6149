"""How much memory a Llama needs to run: one formula for `check`, `estimate` and `run`.

Memory per device is

    weights / nproc + KV cache / nproc + activations + runtime overhead

where the KV cache is Meta's preallocated `2 x n_layers x batch x seq x n_kv_heads x head_dim` elements,
activations are one forward pass over a chunk of at most 2048 tokens (fp32 logits plus the FFN's three
intermediate tensors), and the overhead is the CUDA/MPS context and allocator slack (512 MiB; 256 MiB on CPU).
The dtype, when not given, is the one `run` picks for the device.

With `quantize` ("int8" or "int4", `run --quantize`), the weights are counted as the runner stores them: int8 is
1 byte per parameter plus one fp32 scale per output row; int4 is half a byte per parameter plus a bf16 scale and
a bf16 offset per group of `INT4_GROUP` columns, for the layers' projections (a projection the groups cannot
tile, and the output layer and embedding, are int8); the norms keep the dtype. Activations and the KV cache
keep the dtype too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from llamadoctor.i18n import _
from llamadoctor.llama.params import LlamaParams

GiB = 1024**3
MiB = 1024**2
DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
DTYPE_ALIASES = {"float32": "fp32", "float": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16"}
DEVICES = ("cuda", "mps", "cpu")
OVERHEAD = {"cuda": 512 * MiB, "mps": 512 * MiB, "cpu": 256 * MiB}
ACTIVATION_CHUNK = 2048
BF16_CUDA_CAPABILITY = (8, 0)  # Ampere: bf16 matmuls in hardware
QUANTIZATIONS = ("int8", "int4")
INT4_GROUP = 32  # columns per int4 scale/offset pair
INT4_ROWS_MULTIPLE = 16  # the int4 kernels pack rows in blocks of 16


def default_dtype(device: str, capability: tuple[int, int] | None = None) -> str:
    """The dtype `run` picks: bf16 on Ampere+ CUDA (and when the GPU is unknown), fp16 on older CUDA, bf16
    on MPS (fp16, the same size, where MPS lacks bf16), fp32 on the CPU (fp16 matmuls are missing or slow)."""
    if device == "cpu":
        return "fp32"
    if device == "cuda" and capability is not None and tuple(capability) < BF16_CUDA_CAPABILITY:
        return "fp16"
    return "bf16"


def dtype_name(dtype: str | None, device: str = "cuda", capability: tuple[int, int] | None = None) -> str:
    """Canonical dtype name; None or "auto" picks `run`'s default for the device."""
    if dtype is None or dtype == "auto":
        return default_dtype(device, capability)
    name = DTYPE_ALIASES.get(dtype.lower(), dtype.lower())
    if name not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {dtype!r}: use bf16, fp16 or fp32")
    return name


def weight_bytes(params: LlamaParams, dtype: str) -> int:
    return params.n_params() * DTYPE_BYTES[dtype_name(dtype)]


def int4_fits(rows: int, cols: int, group: int = INT4_GROUP) -> bool:
    """Whether int4 groups tile a weight of this shape (others are stored int8)."""
    return cols % group == 0 and rows % INT4_ROWS_MULTIPLE == 0


def quantized_bytes(rows: int, cols: int, quantize: str) -> int:
    """Bytes of one (rows, cols) weight at "int8" or "int4", scales included."""
    if quantize == "int4" and int4_fits(rows, cols):
        return rows * cols // 2 + 4 * rows * (cols // INT4_GROUP)
    return rows * cols + 4 * rows


def quantized_weight_bytes(params: LlamaParams, quantize: str, dtype: str) -> int:
    """All weights of a model quantized as `run --quantize` stores them (module docstring)."""
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantize!r}: use int8 or int4")
    d, q, kv, hidden = (
        params.dim,
        params.n_heads * params.head_dim,
        params.kv_heads * params.head_dim,
        params.hidden_dim,
    )
    shapes = [(q, d), (kv, d), (kv, d), (d, q), (hidden, d), (hidden, d), (d, hidden)]
    layer = sum(quantized_bytes(r, c, quantize) for r, c in shapes)
    vocab = max(params.vocab_size, 0)
    tables = quantized_bytes(vocab, d, "int8") * (1 if params.tie_embeddings else 2)
    norms = (2 * params.n_layers + 1) * d * DTYPE_BYTES[dtype_name(dtype)]
    return params.n_layers * layer + tables + norms


def kv_cache_bytes(params: LlamaParams, max_seq_len: int, max_batch_size: int, dtype: str | int) -> int:
    """Meta's preallocated cache, k and v for every layer; `dtype` is a name or bytes per element."""
    per_elem = dtype if isinstance(dtype, int) else DTYPE_BYTES[dtype_name(dtype)]
    return 2 * params.n_layers * max_batch_size * max_seq_len * params.kv_heads * params.head_dim * per_elem


@dataclass(frozen=True)
class Estimate:
    arch: LlamaParams
    dtype: str
    device: str  # "cuda" | "mps" | "cpu"
    max_seq_len: int
    max_batch_size: int
    nproc: int
    params: int
    weights_bytes: int  # all devices together
    kv_cache_bytes: int  # all devices together
    activation_bytes: int  # per device
    overhead_bytes: int  # per device
    quantize: str | None = None  # "int8" | "int4": weight-only, as `run --quantize`
    stored: bool = False  # the folder holds quantized codes (`convert --quantize`): it runs at `quantize` only

    @property
    def precision(self) -> str:
        """The dtype, and the quantization when there is one: "fp32", "bf16 + int8"."""
        return self.dtype if self.quantize is None else f"{self.dtype} + {self.quantize}"

    @property
    def per_device_bytes(self) -> int:
        return (self.weights_bytes + self.kv_cache_bytes) // self.nproc + self.activation_bytes + self.overhead_bytes

    @property
    def total_bytes(self) -> int:
        return self.per_device_bytes * self.nproc

    @property
    def shares_one_memory(self) -> bool:
        """On the CPU and Apple's unified memory every process draws on the same RAM."""
        return self.device != "cuda"

    @property
    def needed_bytes(self) -> int:
        """What must fit in one place: a GPU's memory, or the machine's RAM for all processes."""
        return self.total_bytes if self.shares_one_memory else self.per_device_bytes

    def with_(self, **changes: Any) -> Estimate:
        """The same model with other run settings (dtype, device, max_seq_len, max_batch_size, nproc)."""
        settings = {
            "dtype": self.dtype,
            "device": self.device,
            "max_seq_len": self.max_seq_len,
            "max_batch_size": self.max_batch_size,
            "nproc": self.nproc,
            "quantize": self.quantize,
            "stored": self.stored,
        }
        return estimate(self.arch, **{**settings, **changes})


def estimate(
    params: LlamaParams,
    *,
    dtype: str | None = None,
    device: str = "cuda",
    max_seq_len: int = 512,
    max_batch_size: int = 6,
    nproc: int = 1,
    capability: tuple[int, int] | None = None,
    quantize: str | None = None,
    stored: bool = False,
) -> Estimate:
    """Memory for running `params` with these settings; see the module docstring for the formula. `stored`: the
    weights are a folder's quantized codes, so `quantize` is fixed."""
    name = dtype_name(dtype, device, capability)
    nbytes = DTYPE_BYTES[name]
    nproc = max(1, nproc)
    count = params.n_params()
    chunk = min(max_seq_len, ACTIVATION_CHUNK)
    activations = max_batch_size * chunk * (4 * params.vocab_size + 3 * nbytes * params.hidden_dim // nproc)
    return Estimate(
        params,
        name,
        device,
        max_seq_len,
        max_batch_size,
        nproc,
        count,
        count * nbytes if quantize is None else quantized_weight_bytes(params, quantize, name),
        kv_cache_bytes(params, max_seq_len, max_batch_size, nbytes),
        activations,
        OVERHEAD.get(device, OVERHEAD["cuda"]),
        quantize,
        stored,
    )


def largest_fitting(low: int, high: int, fits: Callable[[int], bool]) -> int | None:
    """The largest n in [low, high] with fits(n), for a `fits` true up to some n and false after; None if
    even `low` does not fit. Bisection: about log2(high - low) calls, whatever the numbers."""
    if not fits(low):
        return None
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low


def ways_out(est: Estimate, available: int) -> list[str]:
    """Settings of the same model that would fit in `available` bytes (per device on GPUs, in all on the
    CPU), least change first. From fp32, bf16 is tried first on its own, then with a shorter context or a
    smaller batch."""
    bases = [(est, "")]
    if est.dtype == "fp32" and est.quantize is None:
        bases.append((est.with_(dtype="bf16"), "--dtype bf16 "))
    out: list[str] = []
    for base, prefix in bases:
        if prefix and base.needed_bytes <= available:
            return [*out, _("--dtype bf16 (or fp16): half the bytes of fp32")]
        out += _smaller_settings(base, available, prefix)
        if out:
            break
    return out + quantized_ways_out(est, available)


def fitting_quantization(est: Estimate, available: int) -> Estimate | None:
    """The least change of the same run to a quantized one that fits in `available` bytes: int8 then int4 at
    its dtype, then (from fp32) at bf16; None when none fits."""
    if est.quantize is not None:
        return None
    dtypes = [est.dtype] + (["bf16"] if est.dtype == "fp32" else [])
    for dtype in dtypes:
        for kind in QUANTIZATIONS:
            quantized = est.with_(quantize=kind, dtype=dtype)
            if quantized.needed_bytes <= available:
                return quantized
    return None


def quantized_ways_out(est: Estimate, available: int) -> list[str]:
    found = fitting_quantization(est, available)
    if found is None:
        return []
    flags = f"--quantize {found.quantize}" + (f" --dtype {found.dtype}" if found.dtype != est.dtype else "")
    # TRANSLATORS: {flags} are `run` options such as "--quantize int8 --dtype bf16".
    way = _("{flags} (weights quantized while loading: needs {size} GiB)")
    return [way.format(flags=flags, size=f"{found.needed_bytes / GiB:.2f}")]


def _smaller_settings(base: Estimate, available: int, prefix: str) -> list[str]:
    out = []
    seq = base.max_seq_len
    while seq > 128 and base.with_(max_seq_len=seq).needed_bytes > available:
        seq //= 2
    if seq < base.max_seq_len and base.with_(max_seq_len=seq).needed_bytes <= available:
        out.append(
            _("{prefix}--max-seq-len {seq} (a shorter context: a smaller KV cache)").format(prefix=prefix, seq=seq)
        )
    if base.max_batch_size > 1:

        def fits(batch: int) -> bool:
            return base.with_(max_batch_size=batch).needed_bytes <= available

        batch = largest_fitting(1, base.max_batch_size - 1, fits)
        if batch is not None:
            out.append(f"{prefix}--max-batch-size {batch}")
    return out
