"""How much memory a Llama needs: one estimator for the `memory-insufficient` check, `llamadoctor estimate`
and the runner.

Parameter counts come from the architecture (embedding, attention with grouped KV heads, the SwiGLU FFN whose
width follows Meta's `multiple_of` / `ffn_dim_multiplier` rule, norms, an untied output) and match Meta's
published totals exactly: 6,738,415,616 for Llama 2 7B, 8,030,261,248 for Llama 3 8B. Memory per device is

    weights / nproc + KV cache / nproc + activations + runtime overhead

where the KV cache is Meta's preallocated `2 x n_layers x batch x seq x n_kv_heads x head_dim` elements,
activations are one forward pass over a chunk of at most 2048 tokens (fp32 logits plus the FFN's three
intermediate tensors), and the overhead is the CUDA/MPS context and allocator slack (512 MiB; 256 MiB on CPU).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GiB = 1024**3
MiB = 1024**2
DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
DTYPE_ALIASES = {"float32": "fp32", "float": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16"}
OVERHEAD = {"cuda": 512 * MiB, "mps": 512 * MiB, "cpu": 256 * MiB}
ACTIVATION_CHUNK = 2048


class ModelDirError(ValueError):
    """A folder the estimator cannot read an architecture from; str() is one line for the user."""


def dtype_name(dtype: str | None, device: str = "cuda") -> str:
    """Canonical dtype name; None picks the runner's default for the device (bf16 on GPUs, fp32 on CPU)."""
    if dtype is None or dtype == "auto":
        return "fp32" if device == "cpu" else "bf16"
    name = DTYPE_ALIASES.get(dtype.lower(), dtype.lower())
    if name not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {dtype!r}: use bf16, fp16 or fp32")
    return name


@dataclass(frozen=True)
class Arch:
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    multiple_of: int = 256
    ffn_dim_multiplier: float | None = None
    hidden_dim: int | None = None  # HF's intermediate_size: given, not derived
    tied_embeddings: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, Any], vocab_size: int | None = None) -> Arch:
        """From Meta's params.json; `vocab_size` fills in Llama 1/2's -1 (it comes from the tokenizer)."""
        try:
            vocab = int(params.get("vocab_size", -1))
            if vocab <= 0:
                vocab = vocab_size or 32000
            n_heads = int(params["n_heads"])
            mult = params.get("ffn_dim_multiplier")
            return cls(
                int(params["dim"]),
                int(params["n_layers"]),
                n_heads,
                int(params.get("n_kv_heads") or n_heads),
                vocab,
                int(params.get("multiple_of", 256)),
                float(mult) if mult is not None else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelDirError(f"params.json lacks a usable {exc}") from None

    @classmethod
    def from_hf_config(cls, config: Mapping[str, Any]) -> Arch:
        try:
            n_heads = int(config["num_attention_heads"])
            return cls(
                int(config["hidden_size"]),
                int(config["num_hidden_layers"]),
                n_heads,
                int(config.get("num_key_value_heads") or n_heads),
                int(config["vocab_size"]),
                hidden_dim=int(config["intermediate_size"]),
                tied_embeddings=bool(config.get("tie_word_embeddings", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelDirError(f"config.json lacks a usable {exc}") from None

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def ffn_dim(self) -> int:
        """Meta's rule (llama/model.py FeedForward): 2/3 of 4*dim, times the multiplier, rounded up."""
        if self.hidden_dim is not None:
            return self.hidden_dim
        hidden = int(2 * (4 * self.dim) / 3)
        if self.ffn_dim_multiplier is not None:
            hidden = int(self.ffn_dim_multiplier * hidden)
        return self.multiple_of * ((hidden + self.multiple_of - 1) // self.multiple_of)

    def param_count(self) -> int:
        d, hd = self.dim, self.head_dim
        attention = d * self.n_heads * hd * 2 + d * self.n_kv_heads * hd * 2  # wq, wo; wk, wv
        layer = attention + 3 * d * self.ffn_dim + 2 * d  # w1, w2, w3; two RMSNorm weights
        embeddings = self.vocab_size * d * (1 if self.tied_embeddings else 2)
        return self.n_layers * layer + embeddings + d

    def shard_shapes(self, n_shards: int = 1) -> dict[str, tuple[int, ...]]:
        """Shapes of the non-layer tensors and of layer 0 in one of Meta's `n_shards` model-parallel parts."""
        n, d, hd = n_shards, self.dim, self.head_dim
        vocab_parallel = self.vocab_size >= 100_000  # Llama 3 splits the embedding by vocab, Llama 1/2 by dim
        return {
            "tok_embeddings.weight": (self.vocab_size // n, d) if vocab_parallel else (self.vocab_size, d // n),
            "norm.weight": (d,),
            "output.weight": (self.vocab_size // n, d),
            "layers.0.attention.wq.weight": (self.n_heads * hd // n, d),
            "layers.0.attention.wk.weight": (self.n_kv_heads * hd // n, d),
            "layers.0.attention.wv.weight": (self.n_kv_heads * hd // n, d),
            "layers.0.attention.wo.weight": (d, self.n_heads * hd // n),
            "layers.0.feed_forward.w1.weight": (self.ffn_dim // n, d),
            "layers.0.feed_forward.w2.weight": (d, self.ffn_dim // n),
            "layers.0.feed_forward.w3.weight": (self.ffn_dim // n, d),
            "layers.0.attention_norm.weight": (d,),
            "layers.0.ffn_norm.weight": (d,),
        }

    def largest_tensor(self) -> int:
        """Elements of the largest merged tensor: what a streaming converter holds at once."""
        return max(self.vocab_size * self.dim, self.ffn_dim * self.dim, self.n_heads * self.head_dim * self.dim)


@dataclass(frozen=True)
class Estimate:
    arch: Arch
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

    @property
    def per_device_bytes(self) -> int:
        return (self.weights_bytes + self.kv_cache_bytes) // self.nproc + self.activation_bytes + self.overhead_bytes

    @property
    def total_bytes(self) -> int:
        return self.per_device_bytes * self.nproc

    def with_(self, **changes: Any) -> Estimate:
        """The same model with other run settings (dtype, device, max_seq_len, max_batch_size, nproc)."""
        return estimate(
            self.arch,
            **{
                "dtype": self.dtype,
                "device": self.device,
                "max_seq_len": self.max_seq_len,
                "max_batch_size": self.max_batch_size,
                "nproc": self.nproc,
                **changes,
            },
        )


def kv_cache_bytes(arch: Arch, max_seq_len: int, max_batch_size: int, bytes_per_elem: int) -> int:
    return 2 * arch.n_layers * max_batch_size * max_seq_len * arch.n_kv_heads * arch.head_dim * bytes_per_elem


def estimate(
    arch: Arch,
    *,
    dtype: str | None = None,
    device: str = "cuda",
    max_seq_len: int = 512,
    max_batch_size: int = 1,
    nproc: int = 1,
) -> Estimate:
    """Memory for running `arch` with these settings; see the module docstring for the formula."""
    name = dtype_name(dtype, device)
    nbytes = DTYPE_BYTES[name]
    nproc = max(1, nproc)
    params = arch.param_count()
    chunk = min(max_seq_len, ACTIVATION_CHUNK)
    activations = max_batch_size * chunk * (4 * arch.vocab_size + 3 * nbytes * arch.ffn_dim // nproc)
    return Estimate(
        arch,
        name,
        device,
        max_seq_len,
        max_batch_size,
        nproc,
        params,
        params * nbytes,
        kv_cache_bytes(arch, max_seq_len, max_batch_size, nbytes),
        activations,
        OVERHEAD.get(device, OVERHEAD["cuda"]),
    )


def ways_out(est: Estimate, available: int) -> list[str]:
    """Settings of the same model that would fit in `available` bytes per device, least change first.

    From fp32, bf16 is tried first on its own, then combined with a shorter context or a smaller batch.
    """
    bases = [(est, "")]
    if est.dtype == "fp32":
        bases.append((est.with_(dtype="bf16"), "--dtype bf16 "))
    out: list[str] = []
    for base, prefix in bases:
        if prefix and base.per_device_bytes <= available:
            return [*out, "--dtype bf16 (or fp16): half the bytes of fp32"]
        seq = base.max_seq_len
        while seq > 128 and base.with_(max_seq_len=seq).per_device_bytes > available:
            seq //= 2
        if seq < base.max_seq_len and base.with_(max_seq_len=seq).per_device_bytes <= available:
            out.append(f"{prefix}--max-seq-len {seq} (a shorter context: a smaller KV cache)")
        batch = base.max_batch_size
        while batch > 1 and base.with_(max_batch_size=batch).per_device_bytes > available:
            batch -= 1
        if batch < base.max_batch_size and base.with_(max_batch_size=batch).per_device_bytes <= available:
            out.append(f"{prefix}--max-batch-size {batch}")
        if out:
            return out
    return out


# ---- from a folder -----------------------------------------------------------------------------------------


def arch_of_model_dir(path: Path) -> Arch:
    """The architecture of a Meta folder (params.json, also under original/) or an HF folder (config.json)."""
    from llamadoctor.probes.files import read_json
    from llamadoctor.sniff import sniff_tokenizer

    if not path.is_dir():
        raise ModelDirError(f"{path} is not a folder")
    for params_path in (path / "params.json", path / "original" / "params.json"):
        if params_path.is_file():
            params, error, _ = read_json(params_path)
            if params is None:
                raise ModelDirError(f"{params_path} {error}")
            vocab = None
            for tok in (
                params_path.parent / "tokenizer.model",
                params_path.parent.parent / "tokenizer.model",
            ):
                if tok.is_file():
                    vocab = sniff_tokenizer(tok, tok.stat().st_size).n_words
                    break
            return Arch.from_params(params, vocab)
    if (path / "config.json").is_file():
        config, error, _ = read_json(path / "config.json")
        if config is None:
            raise ModelDirError(f"{path / 'config.json'} {error}")
        return Arch.from_hf_config(config)
    raise ModelDirError(f"{path} has neither params.json (Meta format) nor config.json (Hugging Face format)")


def estimate_for_model_dir(
    path: Path | str,
    dtype: str | None = "bf16",
    max_seq_len: int = 4096,
    max_batch_size: int = 1,
    nproc: int | None = None,
    device: str = "cuda",
) -> Estimate:
    """`llamadoctor estimate`: the estimate for a model folder. Raises ModelDirError (a ValueError) with one
    readable line for a folder that is not a model. nproc None: one process per Meta shard (the MP size)."""
    path = Path(path).expanduser()
    arch = arch_of_model_dir(path)
    if nproc is None:
        shards = [p for p in (path.glob("*.pth") if (path / "params.json").is_file() else ())]
        nproc = max(1, len(shards))
    return estimate(
        arch, dtype=dtype, device=device, max_seq_len=max_seq_len, max_batch_size=max_batch_size, nproc=nproc
    )


# ---- output ------------------------------------------------------------------------------------------------


def gib(n: int) -> str:
    return f"{n / GiB:.2f} GiB"


def estimate_json(est: Estimate) -> dict[str, Any]:
    """The estimate as plain data for `--json` (bytes as integers)."""
    return {
        "architecture": {
            "dim": est.arch.dim,
            "n_layers": est.arch.n_layers,
            "n_heads": est.arch.n_heads,
            "n_kv_heads": est.arch.n_kv_heads,
            "vocab_size": est.arch.vocab_size,
            "ffn_dim": est.arch.ffn_dim,
            "head_dim": est.arch.head_dim,
        },
        "parameters": est.params,
        "dtype": est.dtype,
        "device": est.device,
        "max_seq_len": est.max_seq_len,
        "max_batch_size": est.max_batch_size,
        "nproc": est.nproc,
        "bytes": {
            "weights": est.weights_bytes,
            "kv_cache": est.kv_cache_bytes,
            "activations_per_device": est.activation_bytes,
            "overhead_per_device": est.overhead_bytes,
            "per_device": est.per_device_bytes,
            "total": est.total_bytes,
        },
    }


def render_estimate(est: Estimate, title: str = "") -> Any:
    """A rich Table of the estimate: print it with `console.print(render_estimate(est))`."""
    from rich.table import Table

    per = f" per device x {est.nproc}" if est.nproc > 1 else ""
    table = Table(title=title or None, show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("")
    table.add_column("bytes", justify="right")
    table.add_column("", style="dim")
    a = est.arch
    table.add_row(
        "parameters",
        f"{est.params:,}",
        f"dim {a.dim}, {a.n_layers} layers, {a.n_heads} heads ({a.n_kv_heads} KV), vocab {a.vocab_size}",
    )
    table.add_row(f"weights ({est.dtype})", gib(est.weights_bytes // est.nproc), per.strip())
    table.add_row(
        "KV cache",
        gib(est.kv_cache_bytes // est.nproc),
        f"batch {est.max_batch_size} x {est.max_seq_len} tokens{per}",
    )
    table.add_row("activations", gib(est.activation_bytes), "one forward pass")
    table.add_row("runtime overhead", gib(est.overhead_bytes), est.device)
    table.add_row(
        "[bold]needed[/bold]",
        f"[bold]{gib(est.per_device_bytes)}[/bold]",
        f"per device, {est.nproc} devices: {gib(est.total_bytes)}" if est.nproc > 1 else "",
    )
    return table
