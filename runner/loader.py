"""Build a ready model from a model folder: this rank's weights, memory-mapped, on the chosen device and
dtype.

Meta shards go to ranks by the split table: one process merges all shards; N processes over M shards give
each rank M/N consecutive shards merged (or split one shard when there are more ranks than shards). HF
weights are split the same way under torchrun. Peak memory stays near the weights' size: tensors are mmapped
and assigned to a model built on the meta device, so nothing is allocated twice when the dtype already
matches. On the CPU its speed work is applied (`cpu`): the output layer is the one copy made, and the file
pages it was copied from are handed back as it goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from llamadoctor.files import tokenizer_places
from llamadoctor.i18n import _
from llamadoctor.runner import checkpoint as ckpt
from llamadoctor.runner import cpu, quantize, quantized_folder
from llamadoctor.runner.args import ModelArgs
from llamadoctor.runner.distributed import Parallel
from llamadoctor.runner.errors import RunError
from llamadoctor.runner.model import Transformer


@dataclass(frozen=True)
class RankState:
    args: ModelArgs
    tensors: dict[str, torch.Tensor]
    embedding_dim: int  # split dim of tok_embeddings, and how the model shards it
    stored: quantized_folder.Stored | None = None  # a folder `convert --quantize` wrote: tensors are its codes


def _meta_state(model_dir: Path, args: ModelArgs, par: Parallel) -> RankState:
    shards = ckpt.list_shards(model_dir)
    n = len(shards)
    if n == 0:
        raise ckpt.no_shards(model_dir)
    if (par.world <= n and n % par.world) or (par.world > n and par.world % n):
        raise RunError(
            _("{shards} checkpoint shards cannot be spread over {world} processes").format(shards=n, world=par.world),
            _("use torchrun --nproc_per_node {shards}, or run without torchrun (one process merges the shards)").format(
                shards=n
            ),
        )
    if par.world <= n:
        per = n // par.world
        parts = [ckpt.load_file(p) for p in shards[par.rank * per : (par.rank + 1) * per]]
        emb = ckpt.embedding_split_of(parts[0], args, n)
        tensors = {k: ckpt.merge_tensor(k, [p[k] for p in parts], emb) for k in parts[0] if k != "rope.freqs"}
        if "output.weight" not in tensors and "tok_embeddings.weight" in tensors and emb == 0:
            tensors["output.weight"] = tensors["tok_embeddings.weight"]  # tied (Llama 3.2 1B/3B)
        return RankState(args, tensors, emb)
    ways = par.world // n
    shard = ckpt.load_file(shards[par.rank // ways])
    emb = ckpt.embedding_split_of(shard, args, n)
    sub = par.rank % ways
    tensors = {k: ckpt.split_tensor(k, t, sub, ways, emb) for k, t in shard.items() if k != "rope.freqs"}
    return RankState(args, tensors, emb)


def _hf_state(model_dir: Path, args: ModelArgs, par: Parallel) -> RankState:
    tensors = ckpt.read_hf_state(model_dir)
    if "output.weight" not in tensors and "tok_embeddings.weight" in tensors:
        tensors["output.weight"] = tensors["tok_embeddings.weight"]  # tied embeddings (Llama 3.2 1B/3B)
    if par.is_parallel:
        tensors = {k: ckpt.split_tensor(k, t, par.rank, par.world, 0) for k, t in tensors.items()}
    return RankState(args, tensors, 0)


def read_rank_state(model_dir: Path, par: Parallel) -> RankState:
    fmt = ckpt.detect_format(model_dir)
    stored = quantized_folder.stored_kind(model_dir) if fmt == ckpt.HF else None
    if stored is not None:
        refuse_stored_mismatch(model_dir, stored, None, par)
        return RankState(quantized_folder.read_args(model_dir), quantized_folder.read_tensors(model_dir), 0, stored)
    args = ckpt.read_args(model_dir, fmt)
    return _meta_state(model_dir, args, par) if fmt == ckpt.META else _hf_state(model_dir, args, par)


def build_model(
    state: RankState,
    par: Parallel,
    device: torch.device,
    dtype: torch.dtype,
    quantization: str | None = None,
    traceable: bool = False,
) -> Transformer:
    """The model on `device`. `traceable`: for torch.compile, whose fullgraph cannot trace the weights fbgemm
    packs into its own objects (the CPU's int8 and half-precision products): torch's own products instead."""
    if state.stored is not None:
        model = quantized_folder.build(state.args, state.tensors, state.stored, device, dtype, traceable)
        return _ready(model, device, dtype)
    with torch.device("meta"):
        model = Transformer(state.args, par, state.embedding_dim)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state.tensors))
    if missing:
        lacks = _("checkpoint lacks {keys} and {count} more") if len(missing) > 3 else _("checkpoint lacks {keys}")
        raise RunError(
            lacks.format(keys=", ".join(missing[:3]), count=len(missing) - 3), _("download the model files again")
        )
    for key, tensor in state.tensors.items():
        if key in expected and tuple(tensor.shape) != tuple(expected[key].shape):
            raise RunError(
                _("{key} has shape {shape} but the config asks for {wanted}").format(
                    key=key, shape=tuple(tensor.shape), wanted=tuple(expected[key].shape)
                ),
                _("params.json/config.json and the weights come from different models; download them together"),
            )
    weights = {k: v for k, v in state.tensors.items() if k in expected}
    model.load_state_dict(weights, strict=True, assign=True)
    if quantization is not None:
        quantize.quantize_model(model, quantization, device, dtype, traceable=traceable)
        return _ready(model, device, dtype)
    if device.type == "cpu":
        cpu.optimize_for_cpu(model, dtype, traceable=traceable)  # before `.to`: one copy, from the mapped file
    # Same dtype on CPU: `.to` returns the mmapped tensor itself, so no copy is made.
    model.to(device=device, dtype=dtype)
    model.requires_grad_(False)
    return model.eval()


def refuse_stored_mismatch(model_dir: Path, stored: quantized_folder.Stored, asked: str | None, par: Parallel) -> None:
    """A quantized folder runs at its own quantization, in one process."""
    if asked is not None and asked != stored.kind:
        raise RunError(
            _("{folder} holds {kind} weights; --quantize {asked} cannot be applied to them").format(
                folder=model_dir, kind=stored.kind, asked=asked
            ),
            _(
                "drop --quantize (or pass `--quantize {kind}`), or convert the Meta folder with `--quantize {asked}`"
            ).format(kind=stored.kind, asked=asked),
        )
    if par.is_parallel:
        raise RunError(
            _("{folder} holds {kind} weights, which this runner loads in one process only").format(
                folder=model_dir, kind=stored.kind
            ),
            _("run it without torchrun"),
        )


def _ready(model: Transformer, device: torch.device, dtype: torch.dtype) -> Transformer:
    """The weights left unquantized (the norms) on `device` as `dtype`; the quantized buffers keep their own."""
    for module in model.modules():
        for name, param in list(module.named_parameters(recurse=False)):
            setattr(module, name, torch.nn.Parameter(param.to(device=device, dtype=dtype), requires_grad=False))
    return model.eval()


def load(
    model_dir: Path, par: Parallel, device: torch.device, dtype: torch.dtype, quantization: str | None = None
) -> Transformer:
    return build_model(read_rank_state(model_dir, par), par, device, dtype, quantization)


def find_tokenizer(model_dir: Path, explicit: Path | None) -> Path:
    """The tokenizer the doctor examined for this folder (`tokenizer_places`), unless one is given."""
    if explicit is not None:
        return explicit
    is_meta = ckpt.detect_format(model_dir) == ckpt.META
    for candidate, _where in tokenizer_places(model_dir, is_meta):
        if candidate.is_file():
            return candidate
    missing = (
        _("no tokenizer.model in {path} or its parent")
        if is_meta
        else _("no tokenizer.model or tokenizer.json in {path}")
    )
    raise RunError(
        missing.format(path=model_dir),
        _("pass --tokenizer-path PATH/tokenizer.model"),
    )
