"""The model folder `llamadoctor convert --quantize int8|int4` writes, and `run` loading it with no work: the
stored codes go straight into `QuantLinear`s, memory-mapped, never quantized again.

The folder holds
- `model-0000N-of-0000M.safetensors` with `model.safetensors.index.json`: each quantized weight under its Meta
  name without `.weight`, as the parts of a `quantize.QuantizedWeight` (`NAME.qweight`, `NAME.scales`, and
  `NAME.zeros` at int4), each weight at the precision `run --quantize` gives it (`quantize.kind_of`); the norms
  under their Meta names. The q/k rows keep Meta's rotary layout.
- `tokenizer.model`, and `config.json` last (`llamadoctor.llama.quantized` says what it holds).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from llamadoctor.i18n import N_, _
from llamadoctor.llama.memory import INT4_GROUP
from llamadoctor.llama.quantized import FORMAT_VERSION, folder_quantization, is_chat, stored_method
from llamadoctor.runner import checkpoint as ckpt
from llamadoctor.runner import quantize
from llamadoctor.runner.args import ModelArgs
from llamadoctor.runner.errors import RunError
from llamadoctor.runner.model import Transformer

RECONVERT = N_("convert the Meta folder again with `llamadoctor convert --quantize`")
PART_DTYPES = {
    "int8": {"qweight": torch.int8, "scales": torch.float32},
    "int4": {"qweight": torch.uint8, "scales": torch.bfloat16, "zeros": torch.bfloat16},
}


@dataclasses.dataclass(frozen=True)
class Stored:
    """What a quantized folder's config.json says: the quantization and its int4 group size."""

    kind: str
    group: int


def part_specs(name: str, shape: tuple[int, ...], kind: str, group: int) -> list[tuple[str, tuple[int, ...], Any]]:
    """(tensor name, shape, dtype) of each stored part of the weight `name` (a module name) at `kind`."""
    rows, cols = shape
    if kind == "int8":
        shapes = {"qweight": (rows, cols), "scales": (rows,)}
    else:
        shapes = {"qweight": (rows, cols // 2), "scales": (rows, cols // group), "zeros": (rows, cols // group)}
    return [(f"{name}.{part}", shapes[part], dtype) for part, dtype in PART_DTYPES[kind].items()]


def stored_kind(model_dir: Path) -> Stored | None:
    """The quantization a folder's config.json declares as llamadoctor's, None for any other folder."""
    config_path = model_dir / "config.json"
    if not config_path.is_file() or (model_dir / "params.json").is_file():
        return None
    config = ckpt.read_json(config_path)
    method = stored_method(config)
    if method is None:
        return None
    kind = folder_quantization(config)
    quant = config["quantization_config"]
    if kind is None or quant.get("format_version") != FORMAT_VERSION:
        raise RunError(
            _("{folder} is quantized as {method} (format {version}), which this llamadoctor does not read").format(
                folder=model_dir, method=repr(method), version=repr(quant.get("format_version"))
            ),
            _("upgrade llamadoctor, or {reconvert}").format(reconvert=_(RECONVERT)),
        )
    group = quant.get("group_size") if kind == "int4" else 0
    if kind == "int4" and (not isinstance(group, int) or isinstance(group, bool) or group < 2 or group % 2):
        raise RunError(
            _("config.json of {folder} gives int4 group size {group}").format(folder=model_dir, group=repr(group)),
            _(RECONVERT),
        )
    return Stored(kind, int(group or 0))


def converted_from_chat(model_dir: Path) -> bool:
    """A quantized folder made from a chat model, whatever it is named (`7b-int8`)."""
    config_path = model_dir / "config.json"
    return config_path.is_file() and is_chat(ckpt.read_json(config_path))


def read_args(model_dir: Path) -> ModelArgs:
    # The config describes the model as HF does; the rows of q and k are Meta's, as in the source folder.
    return dataclasses.replace(ckpt.read_args(model_dir, ckpt.HF), rope_interleaved=True)


def read_tensors(model_dir: Path) -> dict[str, torch.Tensor]:
    """Every stored tensor, memory-mapped, under its stored name."""
    tensors: dict[str, torch.Tensor] = {}
    for path in ckpt.hf_weight_files(model_dir):
        tensors.update(ckpt.iter_file_tensors(path))
    return tensors


def _weight(tensors: Mapping[str, torch.Tensor], name: str, shape: tuple[int, int], stored: Stored) -> Any:
    """The stored `QuantizedWeight` of the module `name` whose float weight would have `shape`."""
    kind = quantize.kind_of(name, shape, stored.kind, stored.group or INT4_GROUP)
    parts = {}
    for key, want, dtype in part_specs(name, shape, kind, stored.group):
        tensor = tensors.get(key)
        if tensor is None:
            raise RunError(_("{name} is missing from the quantized folder").format(name=key), _(RECONVERT))
        if tuple(tensor.shape) != want or tensor.dtype != dtype:
            raise RunError(
                _("{name} is {shape} {dtype} but config.json means {want} {want_dtype}").format(
                    name=key, shape=list(tensor.shape), dtype=tensor.dtype, want=list(want), want_dtype=dtype
                ),
                _(RECONVERT),
            )
        parts[key.rsplit(".", 1)[1]] = tensor
    group = stored.group if kind == "int4" else 0
    return quantize.QuantizedWeight(kind, parts["qweight"], parts["scales"], parts.get("zeros"), group)


def build(
    args: ModelArgs,
    tensors: Mapping[str, torch.Tensor],
    stored: Stored,
    device: torch.device,
    dtype: torch.dtype,
    traceable: bool = False,
) -> Transformer:
    """The model with the stored codes as its quantized layers and the norms assigned (still as stored)."""
    with torch.device("meta"):
        model = Transformer(args)
    quantize.install_quantized(
        model, lambda name, shape: _weight(tensors, name, shape, stored), device, dtype, traceable
    )
    expected = model.state_dict()
    missing = sorted(k for k in expected if k not in tensors)
    if missing:
        raise RunError(_("{name} is missing from the quantized folder").format(name=missing[0]), _(RECONVERT))
    for key, tensor in expected.items():
        if tuple(tensors[key].shape) != tuple(tensor.shape):
            raise RunError(
                _("{name} is {shape} but config.json means {want}").format(
                    name=key, shape=list(tensors[key].shape), want=list(tensor.shape)
                ),
                _(RECONVERT),
            )
    model.load_state_dict({k: tensors[k] for k in expected}, strict=True, assign=True)
    return model
