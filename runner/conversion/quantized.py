"""`llamadoctor convert --quantize int8|int4`: a Meta checkpoint to llamadoctor's quantized folder
(`runner.quantized_folder`), quantized once so that `run` loads the codes with no work.

Each weight is merged from its shards, quantized chunk by chunk exactly as `run --quantize` does (the same
codes: `quantize.quantize_weight` at `quantize.kind_of`'s precision) and its parts streamed to the file one
after the other; only that one weight's codes are held. The norms are copied, cast by `--dtype`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, Optional

import torch

from llamadoctor.i18n import _
from llamadoctor.llama.memory import INT4_GROUP, QUANTIZATIONS
from llamadoctor.llama.quantized import quantization_config
from llamadoctor.runner import checkpoint as ckpt
from llamadoctor.runner import quantize
from llamadoctor.runner.chat import looks_like_chat_model
from llamadoctor.runner.conversion import hf as convert_hf
from llamadoctor.runner.conversion.convert import (
    BadInput,
    Item,
    MetaShards,
    Plan,
    Request,
    Source,
    _group,
    _order,
    _out_dtype,
)
from llamadoctor.runner.conversion.writers import TensorSpec
from llamadoctor.runner.quantized_folder import part_specs


class _Current:
    """The one weight whose parts are being written: quantized when its first part is asked for."""

    def __init__(self) -> None:
        self.key: Optional[str] = None
        self.parts: dict[str, torch.Tensor] = {}

    def part(self, key: str, part: str, make: Callable[[], quantize.QuantizedWeight]) -> torch.Tensor:
        if key != self.key:
            self.key, self.parts = None, {}  # the previous weight's codes go before the next are made
            self.parts = make().tensors()
            self.key = key
        return self.parts.pop(part)


def _quantized_maker(key: str, src: Source, kind: str, part: str, current: _Current) -> Callable[..., torch.Tensor]:
    def make(shards: MetaShards) -> torch.Tensor:
        def weight() -> quantize.QuantizedWeight:
            full = ckpt.merge_tensor(key, shards.parts(key), src.embedding_dim)
            return quantize.quantize_weight(full, kind, INT4_GROUP)

        return current.part(key, part, weight)

    return make


def _plain_maker(key: str, src: Source, dtype: torch.dtype) -> Callable[..., torch.Tensor]:
    def make(shards: MetaShards) -> torch.Tensor:
        return ckpt.merge_tensor(key, shards.parts(key), src.embedding_dim).to(dtype)

    return make


def _items(src: Source, request: Request, kind: str) -> list[tuple[TensorSpec, str, Callable[..., torch.Tensor]]]:
    current = _Current()
    out = []
    for key in sorted((k for k in src.shapes if ckpt.hf_key_from_meta(k)), key=_order):
        shape = src.shapes[key]
        if len(shape) != 2:  # the norms
            dtype = _out_dtype(request, src.dtypes[key])
            out.append((TensorSpec(key, shape, dtype), key, _plain_maker(key, src, dtype)))
            continue
        name = key[: -len(".weight")]
        at = quantize.kind_of(name, (shape[0], shape[1]), kind, INT4_GROUP)
        for tensor_name, part_shape, dtype in part_specs(name, (shape[0], shape[1]), at, INT4_GROUP):
            part = tensor_name.rsplit(".", 1)[1]
            maker = _quantized_maker(key, src, at, part, current)
            out.append((TensorSpec(tensor_name, part_shape, dtype), key, maker))
    return out


def check_request(request: Request) -> None:
    """Refuse what --quantize cannot be combined with, before the source is read."""
    if request.quantize not in QUANTIZATIONS:
        raise BadInput(
            _("unknown --quantize {value}").format(value=repr(request.quantize)),
            _("use --quantize {choices}").format(choices="|".join(QUANTIZATIONS)),
        )
    if request.to != "hf" or request.shards is not None:
        raise BadInput(
            _("--quantize writes llamadoctor's own quantized folder, not Meta shards"),
            _("drop --to meta and --shards (run the quantized folder in one process)"),
        )


def plan_quantized(src: Source, request: Request) -> Plan:
    check_request(request)
    kind = str(request.quantize)
    if src.tokenizer is None:
        raise BadInput(
            _("no tokenizer.model in {folder} or its parent").format(folder=src.model_dir),
            _("download tokenizer.model beside it"),
        )
    items: list[Item] = []
    sizes, previous = [0], ""
    for spec, key, make in _items(src, request, kind):
        if sizes[-1] and sizes[-1] + spec.nbytes > request.max_shard_bytes and key != previous:
            sizes.append(0)  # a new file starts with a weight's first part
        previous = key
        sizes[-1] += spec.nbytes
        items.append(Item(len(sizes) - 1, spec, _group(key), make))
    files = [f"model-{k + 1:05d}-of-{len(sizes):05d}.safetensors" for k in range(len(sizes))]
    version = convert_hf.llama_version(src.args, src.model_dir, src.dtypes.values())
    chat = request.chat if request.chat is not None else looks_like_chat_model(src.model_dir.name)
    tokenizer = src.tokenizer
    special = convert_hf.special_ids(tokenizer, version, chat)
    norm_dtype = _out_dtype(request, src.dtypes.get("norm.weight", torch.bfloat16))

    def finish(out: Path) -> None:
        shutil.copyfile(tokenizer, out / "tokenizer.model")
        index = {
            "metadata": {"total_size": sum(i.spec.nbytes for i in items)},
            "weight_map": {i.spec.name: files[i.file] for i in items},
        }
        (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
        config = convert_hf.hf_config(src.args, version, norm_dtype, special, tied=False)
        config.update(quantization_config(kind, src.model_dir.name, chat))
        (out / "config.json").write_text(json.dumps(config, indent=2))  # last: it makes the folder a model

    label = f"Llama {version}" + (" chat" if chat else "")
    summary = f"{label}, {len(src.shards)} Meta shard(s) -> llamadoctor {kind} safetensors ({len(files)} file(s))"
    return Plan(src.shards, files, items, finish, tokenizer.stat().st_size, summary)
