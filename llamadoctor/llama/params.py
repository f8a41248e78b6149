"""A Llama's shape, read from Meta's params.json or a Hugging Face config.json, validated in one place.

Both files describe the same network. Every value is checked for its type and a sane range before anything
is derived from it, so a `"dim": true`, a `"n_layers": 0` or a `"vocab_size": 1e12` is one `ParamsError`
naming the file, the field and the value, never a negative count, a division by zero or a traceback later.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from llamadoctor.i18n import _

# Llama 3.1's scaled RoPE constants: Meta hard-codes them; HF stores them in `rope_scaling`.
LLAMA31_ROPE = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position": 8192}

# Ranges wide enough for every published Llama (405B: dim 16384, 126 layers) and far below what would make
# the arithmetic absurd.
MAX_DIM = 1 << 17
MAX_LAYERS = 1024
MAX_VOCAB = 1 << 22
MAX_FFN = 1 << 20
MAX_CONTEXT = 1 << 24


class ParamsError(ValueError):
    """params.json or config.json does not describe a Llama; str() is one line naming the field and value."""


@dataclass(frozen=True)
class LlamaParams:
    """What a Llama is. Field names follow Meta's params.json, so a Meta file maps one to one."""

    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: Optional[int] = None
    vocab_size: int = -1  # -1: Llama 1/2 take it from the tokenizer
    multiple_of: int = 256
    ffn_dim_multiplier: Optional[float] = None
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    use_scaled_rope: bool = False
    rope_scale_factor: float = 8.0
    ffn_hidden_dim: Optional[int] = None  # HF gives intermediate_size; Meta derives it (see `hidden_dim`)
    tie_embeddings: bool = False
    # Meta checkpoints rotate interleaved pairs (2i, 2i+1); HF rotates halves because its converter permutes
    # the q/k rows. The runner's model supports both, so neither format needs a copy of wq/wk.
    rope_interleaved: bool = True
    max_position: Optional[int] = None  # HF's max_position_embeddings; Meta's files do not say
    rope_scaling_type: Optional[str] = None  # HF's rope_scaling type ("llama3", "linear", ...)

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def hidden_dim(self) -> int:
        """FFN width: Meta's rule `multiple_of * ceil(ffn_dim_multiplier * int(8*dim/3) / multiple_of)`."""
        if self.ffn_hidden_dim is not None:
            return self.ffn_hidden_dim
        hidden = int(2 * (4 * self.dim) / 3)
        if self.ffn_dim_multiplier is not None:
            hidden = int(self.ffn_dim_multiplier * hidden)
        return self.multiple_of * math.ceil(hidden / self.multiple_of)

    @property
    def from_hf(self) -> bool:
        return not self.rope_interleaved

    def with_vocab(self, vocab_size: int) -> LlamaParams:
        return dataclasses.replace(self, vocab_size=vocab_size)

    def n_params(self) -> int:
        """Exact parameter count: embedding, attention with grouped KV heads, SwiGLU FFN, norms, output."""
        d, h, kv = self.dim, self.head_dim, self.kv_heads
        attention = d * self.n_heads * h * 2 + d * kv * h * 2  # wq, wo; wk, wv
        layer = attention + 3 * d * self.hidden_dim + 2 * d  # w1, w2, w3; two RMSNorm weights
        embeddings = max(self.vocab_size, 0) * d * (1 if self.tie_embeddings else 2)
        return self.n_layers * layer + embeddings + d

    def largest_tensor(self) -> int:
        """Elements of the largest merged tensor: what a streaming converter holds at once."""
        return max(self.vocab_size * self.dim, self.hidden_dim * self.dim, self.n_heads * self.head_dim * self.dim)


# ---- reading a value -------------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _said(source: str, key: str, value: Any) -> dict[str, str]:
    """The placeholders every message about one bad value fills: where, which key, and the value as written."""
    return {"source": source, "key": key, "value": _shown(value)}


def _whole(source: str, key: str, value: Any, low: int, high: int) -> int:
    """An integer in [low, high]; an integral float such as 4096.0 is accepted, a bool is not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamsError(_("{source}: {key} is {value}; expected a whole number").format(**_said(source, key, value)))
    if isinstance(value, float):
        if not value.is_integer():
            raise ParamsError(
                _("{source}: {key} is {value}; expected a whole number").format(**_said(source, key, value))
            )
        value = int(value)
    if not low <= value <= high:
        raise ParamsError(
            _("{source}: {key} is {value}; expected a whole number from {low} to {high}").format(
                low=low, high=high, **_said(source, key, value)
            )
        )
    return int(value)


def _real(source: str, key: str, value: Any, low: float, high: float) -> float:
    """A finite number in (low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamsError(_("{source}: {key} is {value}; expected a number").format(**_said(source, key, value)))
    number = float(value)
    if not math.isfinite(number) or not low < number <= high:
        raise ParamsError(
            _("{source}: {key} is {value}; expected a number above {low} and at most {high}").format(
                low=f"{low:g}", high=f"{high:g}", **_said(source, key, value)
            )
        )
    return number


def _flag(source: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ParamsError(_("{source}: {key} is {value}; expected true or false").format(**_said(source, key, value)))
    return value


def _required(source: str, data: Mapping[str, Any], key: str) -> Any:
    if key not in data or data[key] is None:
        raise ParamsError(_("{source}: {key} is missing").format(source=source, key=key))
    return data[key]


def _mapping(source: str, data: Any) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ParamsError(_("{source} is not a JSON object").format(source=source))
    return data


# ---- the two files ---------------------------------------------------------------------------------------


def from_meta_params(data: Any, source: str = "params.json") -> LlamaParams:
    """From Meta's params.json. Unknown keys are ignored, as llama-models does."""
    data = _mapping(source, data)
    dim = _whole(source, "dim", _required(source, data, "dim"), 1, MAX_DIM)
    n_heads = _whole(source, "n_heads", _required(source, data, "n_heads"), 1, dim)
    fields: dict[str, Any] = {
        "dim": dim,
        "n_layers": _whole(source, "n_layers", _required(source, data, "n_layers"), 1, MAX_LAYERS),
        "n_heads": n_heads,
        "vocab_size": _meta_vocab(source, data.get("vocab_size", -1)),
    }
    optional: dict[str, Callable[[Any], Any]] = {
        "n_kv_heads": lambda v: _whole(source, "n_kv_heads", v, 1, n_heads),
        "multiple_of": lambda v: _whole(source, "multiple_of", v, 1, MAX_FFN),
        "ffn_dim_multiplier": lambda v: _real(source, "ffn_dim_multiplier", v, 0.0, 16.0),
        "norm_eps": lambda v: _real(source, "norm_eps", v, 0.0, 0.1),
        "rope_theta": lambda v: _real(source, "rope_theta", v, 0.0, 1e12),
        "use_scaled_rope": lambda v: _flag(source, "use_scaled_rope", v),
    }
    for key, read in optional.items():
        if data.get(key) is not None:
            fields[key] = read(data[key])
    if data.get("rope_scaling_factor") is not None:  # later llama-models params.json
        fields["rope_scale_factor"] = _real(source, "rope_scaling_factor", data["rope_scaling_factor"], 0.0, 1024.0)
    return _consistent(source, LlamaParams(**fields))


def _meta_vocab(source: str, value: Any) -> int:
    if value == -1 and not isinstance(value, bool):
        return -1
    return _whole(source, "vocab_size", value, 1, MAX_VOCAB)


def from_hf_config(data: Any, source: str = "config.json") -> LlamaParams:
    """From a Hugging Face `LlamaForCausalLM` config.json."""
    data = _mapping(source, data)
    dim = _whole(source, "hidden_size", _required(source, data, "hidden_size"), 1, MAX_DIM)
    n_heads = _whole(source, "num_attention_heads", _required(source, data, "num_attention_heads"), 1, dim)
    kv = data.get("num_key_value_heads")
    scaling = _rope_scaling(source, data.get("rope_scaling"))
    max_position = data.get("max_position_embeddings")
    params = LlamaParams(
        dim=dim,
        n_layers=_whole(source, "num_hidden_layers", _required(source, data, "num_hidden_layers"), 1, MAX_LAYERS),
        n_heads=n_heads,
        n_kv_heads=n_heads if kv is None else _whole(source, "num_key_value_heads", kv, 1, n_heads),
        vocab_size=_whole(source, "vocab_size", _required(source, data, "vocab_size"), 1, MAX_VOCAB),
        norm_eps=_real(source, "rms_norm_eps", data.get("rms_norm_eps", 1e-6), 0.0, 0.1),
        rope_theta=_real(source, "rope_theta", data.get("rope_theta", 10000.0), 0.0, 1e12),
        use_scaled_rope=scaling is not None and scaling[0] == "llama3",
        rope_scale_factor=8.0 if scaling is None else scaling[1],
        ffn_hidden_dim=_whole(source, "intermediate_size", _required(source, data, "intermediate_size"), 1, MAX_FFN),
        tie_embeddings=_flag(source, "tie_word_embeddings", data.get("tie_word_embeddings", False)),
        rope_interleaved=False,
        max_position=None
        if max_position is None
        else _whole(source, "max_position_embeddings", max_position, 1, MAX_CONTEXT),
        rope_scaling_type=None if scaling is None else scaling[0],
    )
    return _consistent(source, params)


def _rope_scaling(source: str, value: Any) -> tuple[str, float] | None:
    """(type, factor) of HF's rope_scaling, None when absent."""
    if not value:
        return None
    if not isinstance(value, Mapping):
        raise ParamsError(
            _("{source}: {key} is {value}; expected an object or null").format(**_said(source, "rope_scaling", value))
        )
    kind = value.get("rope_type", value.get("type"))
    if not isinstance(kind, str):
        raise ParamsError(
            _('{source}: {key} is {value}; expected a name such as "llama3"').format(
                **_said(source, "rope_scaling.rope_type", kind)
            )
        )
    return kind, _real(source, "rope_scaling.factor", value.get("factor", 8.0), 0.0, 1024.0)


def _consistent(source: str, p: LlamaParams) -> LlamaParams:
    """What holds between fields: heads divide the width evenly, into even head sizes, KV heads divide heads."""
    names = (
        ("hidden_size", "num_attention_heads", "num_key_value_heads") if p.from_hf else ("dim", "n_heads", "n_kv_heads")
    )
    if p.dim % p.n_heads:
        raise ParamsError(
            _("{source}: {width} {dim} is not divisible by {heads} {n_heads}").format(
                source=source, width=names[0], dim=p.dim, heads=names[1], n_heads=p.n_heads
            )
        )
    if p.head_dim % 2:
        raise ParamsError(
            _(
                "{source}: {width} {dim} / {heads} {n_heads} gives an odd head size {head_dim}; rotary embeddings "
                "need an even one"
            ).format(source=source, width=names[0], dim=p.dim, heads=names[1], n_heads=p.n_heads, head_dim=p.head_dim)
        )
    if p.n_heads % p.kv_heads:
        raise ParamsError(
            _("{source}: {kv} {kv_heads} does not divide {heads} {n_heads}").format(
                source=source, kv=names[2], kv_heads=p.kv_heads, heads=names[1], n_heads=p.n_heads
            )
        )
    if p.hidden_dim > MAX_FFN:
        raise ParamsError(
            _("{source}: the feed-forward width {width} is out of range (at most {most})").format(
                source=source, width=p.hidden_dim, most=MAX_FFN
            )
        )
    return p
