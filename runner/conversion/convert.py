"""`llamadoctor convert`: Meta checkpoints to Hugging Face format, or to another number of Meta shards, in
constant memory and without ever leaving a half-written folder that looks complete.

A conversion is planned first from the input's shapes alone (nothing is read but the pickles): every output
tensor with its name, shape, dtype and file. The plan gives the exact bytes to write, checked against the free
disk before the first byte. Then the output is produced one tensor at a time: the shard slices of that tensor
are concatenated by the split table (`checkpoint.merge_tensor`), q/k permuted for HF's rotary layout, cast if
`--dtype` says so, and streamed to the file. Input shards are memory-mapped and re-opened for every layer, so
the pages touched by one layer are unmapped before the next: peak memory is about one layer plus one tensor,
whatever the size of the model. Before anything is written the input is checked against its params.json and
the doctor's shard and checksum checks (`source`). Everything is written into a hidden sibling folder
swapped into place at the end; what `--force` may replace and what a killed run leaves are `output`'s.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch

from llamadoctor.durable import pause_point
from llamadoctor.i18n import _
from llamadoctor.runner import checkpoint as ckpt
from llamadoctor.runner.args import ModelArgs
from llamadoctor.runner.chat import looks_like_chat_model
from llamadoctor.runner.conversion import hf as convert_hf
from llamadoctor.runner.conversion.output import BadInput as BadInput  # re-exported: callers catch conv.BadInput
from llamadoctor.runner.conversion.output import (
    fsync_tree,
    guard_output,
    make_parents,
    partial_dir,
    recover,
    remove_if_empty,
    swap_into_place,
    write_marker,
)
from llamadoctor.runner.conversion.source import (
    check_distinct,
    check_keys,
    check_shapes,
    refuse_if_doctor_objects,
)
from llamadoctor.runner.conversion.writers import SafetensorsWriter, TensorSpec, TorchWriter
from llamadoctor.runner.errors import RunError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
MAX_SHARD_BYTES = 5 * 1024**3  # transformers 4.x's save_pretrained default
SLACK_BYTES = 16 * 1024**2  # headers, configs, filesystem rounding
FreeBytes = Callable[[Path], int]
Writer = Union[SafetensorsWriter, TorchWriter]


class NotEnoughDisk(RunError):
    """Refused before writing: the output would not fit (exit 1)."""


def disk_free(path: Path) -> int:
    from llamadoctor.paths import disk_usage

    return disk_usage(path)[1]


@dataclass(frozen=True)
class Request:
    model_dir: Path
    out: Path
    to: str = "hf"  # "hf" | "meta"
    shards: Optional[int] = None  # Meta output: model-parallel files
    dtype: str = "auto"  # auto keeps each tensor's dtype
    force: bool = False
    chat: Optional[bool] = None  # None: from the folder name (-chat, -Instruct)
    quantize: Optional[str] = None  # "int8" | "int4": llamadoctor's quantized folder (`conversion.quantized`)
    max_shard_bytes: int = MAX_SHARD_BYTES


@dataclass(frozen=True)
class Item:
    """One output tensor: where it goes and how to make it from the input."""

    file: int
    spec: TensorSpec
    group: str  # input shards are re-opened when the group (layer) changes
    make: Callable[[MetaShards], torch.Tensor]


@dataclass
class Plan:
    inputs: list[Path]  # the Meta shards read
    files: list[str]
    items: list[Item]
    finish: Callable[[Path], None]  # configs, tokenizer, index: written last, into the temporary folder
    extra_bytes: int = 0
    summary: str = ""
    writer: str = "safetensors"  # or "torch"

    @property
    def tensor_bytes(self) -> int:
        return sum(i.spec.nbytes for i in self.items)

    @property
    def need_bytes(self) -> int:
        return self.tensor_bytes + self.extra_bytes + SLACK_BYTES

    def specs_of(self, file: int) -> list[TensorSpec]:
        return [i.spec for i in self.items if i.file == file]


class MetaShards:
    """The input's `consolidated.NN.pth`, memory-mapped; `release()` unmaps them (refcounts permitting)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self._open: list[dict[str, torch.Tensor]] | None = None

    def parts(self, key: str) -> list[torch.Tensor]:
        if self._open is None:
            self._open = [ckpt.load_file(p) for p in self.paths]
        try:
            return [shard[key] for shard in self._open]
        except KeyError:
            raise RunError(
                _("{key} is missing from a shard").format(key=key), _("download the checkpoint shards again")
            ) from None

    def release(self) -> None:
        self._open = None


@dataclass
class Source:
    """What planning learns from the input without reading a weight."""

    model_dir: Path
    shards: list[Path]
    args: ModelArgs
    params: dict[str, Any]
    shapes: dict[str, tuple[int, ...]]  # merged (full) shapes, in the first shard's order
    dtypes: dict[str, torch.dtype]
    embedding_dim: int
    tokenizer: Optional[Path] = None
    extra: dict[str, Any] = field(default_factory=dict)


def _embedding_split(first: dict[str, torch.Tensor], args: ModelArgs, n: int, tokenizer: Optional[Path]) -> int:
    """Meta split the embedding by width (Llama 1/2) or by vocabulary (Llama 3). With several shards the
    shapes tell; a single shard needs the generation, which the tiktoken tokenizer gives away."""
    if n == 1 and tokenizer is not None:
        from llamadoctor.runner.tokenizer import TIKTOKEN, sniff

        return 0 if sniff(tokenizer) == TIKTOKEN else 1
    return ckpt.embedding_split_of(first, args, n)


def read_source(model_dir: Path) -> Source:
    if not model_dir.is_dir():
        raise BadInput(
            _("model folder not found: {path}").format(path=model_dir),
            _("pass --model-dir the folder holding params.json"),
        )
    try:
        fmt = ckpt.detect_format(model_dir)
    except RunError as exc:
        raise BadInput(exc.message, exc.fix) from None
    if fmt == ckpt.HF:
        raise BadInput(
            _("{path} is already in Hugging Face format (config.json)").format(path=model_dir),
            _(
                "give transformers/vLLM this folder as it is; `convert` reads Meta folders (params.json + "
                "consolidated.*.pth)"
            ),
        )
    shards = ckpt.list_shards(model_dir)
    if not shards:
        missing = ckpt.no_shards(model_dir)
        raise BadInput(missing.message, missing.fix)
    params = ckpt.read_json(model_dir / "params.json")
    args = ckpt.read_args(model_dir, fmt)  # every value checked before a shard is opened
    opened = [ckpt.load_file(p) for p in shards]
    check_keys(opened, shards)
    first = opened[0]
    from llamadoctor.runner.loader import find_tokenizer

    try:
        tokenizer: Optional[Path] = find_tokenizer(model_dir, None)
    except RunError:
        tokenizer = None
    emb = _embedding_split(first, args, len(shards), tokenizer)
    check_distinct(opened, shards, emb)
    shapes, dtypes = {}, {}
    for key, t in first.items():
        dim = ckpt.split_dim(key, emb)
        shape = list(t.shape)
        if dim is not None:
            shape[dim] = sum(int(s[key].shape[dim]) for s in opened)
        shapes[key], dtypes[key] = tuple(shape), t.dtype
    check_shapes(shapes, args)
    return Source(model_dir, shards, args, params, shapes, dtypes, emb, tokenizer)


def _out_dtype(request: Request, dtype: torch.dtype) -> torch.dtype:
    if request.dtype == "auto" or not dtype.is_floating_point:
        return dtype
    return DTYPES[request.dtype]


def _order(key: str) -> tuple[int, int, str]:
    """HF's order: embedding, layers in order, final norm, lm_head."""
    m = re.match(r"^layers\.(\d+)\.", key)
    if m:
        return (1, int(m.group(1)), key)
    return (0 if key == "tok_embeddings.weight" else 2, 0, key)


def _group(key: str) -> str:
    m = re.match(r"^(layers\.\d+)\.", key)
    return m.group(1) if m else key


# ---- Meta -> Hugging Face ------------------------------------------------------------------------------------


def _hf_maker(key: str, src: Source, dtype: torch.dtype) -> Callable[[MetaShards], torch.Tensor]:
    heads = src.args.n_heads if key.endswith("attention.wq.weight") else src.args.kv_heads
    permute = key.endswith(("attention.wq.weight", "attention.wk.weight"))

    def make(shards: MetaShards) -> torch.Tensor:
        t = ckpt.merge_tensor(key, shards.parts(key), src.embedding_dim)
        if permute:
            t = ckpt.permute_to_hf(t, heads)
        return t.to(dtype)

    return make


def _tied(src: Source, version: str) -> bool:
    """Llama 3.2 1B/3B tie lm_head to the embedding: HF leaves lm_head out then (one read of both)."""
    if version != "3.2" or src.shapes.get("output.weight") != src.shapes.get("tok_embeddings.weight"):
        return False
    shards = MetaShards(src.shards)
    try:
        emb = ckpt.merge_tensor("tok_embeddings.weight", shards.parts("tok_embeddings.weight"), src.embedding_dim)
        out = ckpt.merge_tensor("output.weight", shards.parts("output.weight"), 0)
        return bool(torch.equal(emb, out))
    finally:
        shards.release()


def plan_hf(src: Source, request: Request) -> Plan:
    version = convert_hf.llama_version(src.args, src.model_dir, src.dtypes.values())
    chat = request.chat if request.chat is not None else looks_like_chat_model(src.model_dir.name)
    tied = _tied(src, version)
    keys = sorted((k for k in src.shapes if ckpt.hf_key_from_meta(k)), key=_order)
    if tied:
        keys.remove("output.weight")
    items: list[Item] = []
    sizes: list[int] = [0]
    for key in keys:
        dtype = _out_dtype(request, src.dtypes[key])
        spec = TensorSpec(str(ckpt.hf_key_from_meta(key)), src.shapes[key], dtype)
        if sizes[-1] and sizes[-1] + spec.nbytes > request.max_shard_bytes:
            sizes.append(0)
        sizes[-1] += spec.nbytes
        items.append(Item(len(sizes) - 1, spec, _group(key), _hf_maker(key, src, dtype)))
    n = len(sizes)
    files = [f"model-{k + 1:05d}-of-{n:05d}.safetensors" for k in range(n)]
    main_dtype = _out_dtype(request, src.dtypes.get("layers.0.attention.wq.weight", torch.bfloat16))
    if src.tokenizer is None:
        raise BadInput(
            _("no tokenizer.model in {path} or its parent").format(path=src.model_dir),
            _("download tokenizer.model beside it"),
        )
    tokenizer = src.tokenizer
    special = convert_hf.special_ids(tokenizer, version, chat)

    def finish(out: Path) -> None:
        import json

        convert_hf.write_tokenizer(tokenizer, out, version, chat, special)
        total = sum(i.spec.nbytes for i in items)
        weight_map = {i.spec.name: files[i.file] for i in items}
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
        gen = convert_hf.generation_config(special, version)
        (out / "generation_config.json").write_text(json.dumps(gen, indent=2))
        # config.json last: without it no HF tool takes the folder for a model.
        config = convert_hf.hf_config(src.args, version, main_dtype, special, tied)
        (out / "config.json").write_text(json.dumps(config, indent=2))

    if chat:
        summary = _("Llama {version} chat, {shards} Meta shard(s) -> Hugging Face safetensors ({files} file(s))")
    else:
        summary = _("Llama {version}, {shards} Meta shard(s) -> Hugging Face safetensors ({files} file(s))")
    summary = summary.format(version=version, shards=len(src.shards), files=n)
    extra = 8 * tokenizer.stat().st_size  # tokenizer.json is several times the tiktoken file
    return Plan(src.shards, files, items, finish, extra, summary)


# ---- Meta -> Meta with another number of shards ---------------------------------------------------------------


def _reshard_maker(key: str, src: Source, rank: int, world: int, dtype: torch.dtype) -> Callable[..., torch.Tensor]:
    def make(shards: MetaShards) -> torch.Tensor:
        full = ckpt.merge_tensor(key, shards.parts(key), src.embedding_dim)
        return ckpt.split_tensor(key, full, rank, world, src.embedding_dim).to(dtype)

    return make


def plan_reshard(src: Source, request: Request) -> Plan:
    world = int(request.shards or 0)
    if world < 1:
        raise BadInput(
            _("--shards must be at least 1, not {value}").format(value=world),
            _("use --shards 1 to merge, 2 or more to split"),
        )
    if world == len(src.shards) and request.dtype == "auto":
        raise BadInput(
            _("{path} already has {world} shard(s)").format(path=src.model_dir, world=world),
            _("pass another --shards, or --to hf"),
        )
    args = src.args
    for message, count in (
        (_("{count} attention heads do not split over {world} shards"), args.n_heads),
        (_("{count} key/value heads do not split over {world} shards"), args.kv_heads),
    ):
        if count % world:
            raise BadInput(message.format(count=count, world=world), _("choose --shards dividing them"))
    items: list[Item] = []
    for rank in range(world):
        for key, shape in src.shapes.items():
            dim = ckpt.split_dim(key, src.embedding_dim)
            out_shape = list(shape)
            if dim is not None:
                if shape[dim] % world:
                    raise BadInput(
                        _("{key} ({size} along dim {dim}) does not split over {world} shards").format(
                            key=key, size=shape[dim], dim=dim, world=world
                        ),
                        _("choose another --shards"),
                    )
                out_shape[dim] //= world
            dtype = _out_dtype(request, src.dtypes[key])
            spec = TensorSpec(key, tuple(out_shape), dtype)
            items.append(Item(rank, spec, _group(key), _reshard_maker(key, src, rank, world, dtype)))
    files = [f"consolidated.{rank:02d}.pth" for rank in range(world)]
    copies = [p for p in (src.model_dir / "params.json", src.tokenizer) if p is not None]

    def finish(out: Path) -> None:
        for path in copies:
            shutil.copyfile(path, out / path.name)

    summary = _("{shards} Meta shard(s) -> {world} Meta shard(s)").format(shards=len(src.shards), world=world)
    return Plan(src.shards, files, items, finish, sum(p.stat().st_size for p in copies), summary, writer="torch")


# ---- running a plan -----------------------------------------------------------------------------------------


def make_plan(request: Request) -> tuple[Source, Plan]:
    if request.dtype != "auto" and request.dtype not in DTYPES:
        raise BadInput(
            _("unknown --dtype {value}").format(value=repr(request.dtype)), _("use auto, bf16, fp16 or fp32")
        )
    if request.to not in ("hf", "meta"):
        raise BadInput(_("unknown --to {value}").format(value=repr(request.to)), _("use --to hf or --to meta"))
    if request.to == "hf" and request.shards is not None and request.quantize is None:
        raise BadInput(_("--shards applies to Meta output"), _("drop --shards, or use --to meta --shards N"))
    if request.to == "meta" and request.shards is None:
        raise BadInput(_("--to meta needs --shards N"), _("pass --shards 1 to merge, or more to split"))
    if request.quantize is not None:
        from llamadoctor.runner.conversion.quantized import check_request, plan_quantized

        check_request(request)
        src = read_source(request.model_dir)
        return src, plan_quantized(src, request)
    src = read_source(request.model_dir)
    return src, (plan_hf(src, request) if request.to == "hf" else plan_reshard(src, request))


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def _source_files(src: Source) -> list[Path]:
    """Everything the conversion reads: --out may not be, hold or sit inside any of it."""
    return [src.model_dir, src.model_dir / "params.json", *src.shards, *([src.tokenizer] if src.tokenizer else [])]


def check_output(request: Request, src: Source, plan: Plan, free_bytes: FreeBytes) -> None:
    out = request.out.absolute()
    guard_output(out, _source_files(src), request.force)
    free = free_bytes(out.parent)
    if free < plan.need_bytes:
        raise NotEnoughDisk(
            _("not enough disk space for {out}: this conversion writes {size}, {free} free").format(
                out=request.out, size=_gb(plan.need_bytes), free=_gb(free)
            ),
            _("free {size} or more, or choose an --out on another disk").format(size=_gb(plan.need_bytes - free)),
        )


def _open_writer(plan: Plan, folder: Path, file: int) -> Writer:
    path = folder / plan.files[file]
    specs = plan.specs_of(file)
    return TorchWriter(path, specs) if plan.writer == "torch" else SafetensorsWriter(path, specs)


def stream(plan: Plan, folder: Path, on_tensor: Callable[[TensorSpec], None]) -> None:
    """Write every output tensor, one at a time, re-opening the input shards per group."""
    shards = MetaShards(plan.inputs)
    writer: Optional[Writer] = None
    group, file = None, -1
    try:
        for item in plan.items:
            if item.group != group:
                shards.release()
                group = item.group
            if item.file != file:
                if writer is not None:
                    writer.close()
                writer = _open_writer(plan, folder, item.file)
                file = item.file
            tensor = item.make(shards)
            assert writer is not None  # opened above for the first item
            writer.write(tensor)
            del tensor
            on_tensor(item.spec)
            pause_point("streaming")
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.abandon()
        raise
    finally:
        shards.release()


@dataclass(frozen=True)
class Result:
    out: Path
    files: tuple[str, ...]
    tensors: int
    bytes_written: int
    summary: str


def convert(
    request: Request,
    free_bytes: FreeBytes = disk_free,
    on_tensor: Optional[Callable[[TensorSpec], None]] = None,
    on_plan: Optional[Callable[[Plan], None]] = None,
    hash_progress: Optional[Callable[[int, int], None]] = None,
) -> Result:
    """Plan, check the disk, stream into a temporary sibling folder, rename it into place.

    A source the doctor's model checks find damaged (md5 against checklist.chk included) is refused unless
    `request.force`; `hash_progress(done, total)` follows that hashing."""
    out = request.out.absolute()
    recover(out)
    src, plan = make_plan(request)
    check_output(request, src, plan, free_bytes)  # before hashing: a refusal here should not wait for md5
    if not request.force:
        refuse_if_doctor_objects(src.model_dir, hash_progress)
    pause_point("planning")
    created = make_parents(out)
    tmp = partial_dir(out)
    if on_plan is not None:
        on_plan(plan)
    try:
        tmp.mkdir()
        stream(plan, tmp, on_tensor or (lambda spec: None))
        plan.finish(tmp)
        pause_point("finishing")
        write_marker(tmp, src.model_dir, f"quantized-{request.quantize}" if request.quantize else request.to)
        fsync_tree(tmp)
        swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        remove_if_empty(created)
        raise
    return Result(out, tuple(plan.files), len(plan.items), plan.tensor_bytes, plan.summary)
