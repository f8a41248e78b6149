"""Reading Llama checkpoints: Meta (`consolidated.NN.pth` + params.json) and Hugging Face (safetensors or
.bin).

Everything is memory-mapped: `torch.load(mmap=True, weights_only=True)` for .pth/.bin (a .pth is a pickle,
so never `weights_only=False`) and safetensors' own mmap. Tensors are handed out under Meta's key names; HF
names are mapped. These functions are the base of `llamadoctor convert` too: list shards, read the args, the
split table as data, merge or split one tensor, iterate a file's tensors.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from llamadoctor.formats import MAX_PICKLE, UNSAFE_PICKLE, UNSAFE_PICKLE_FIX, RefusedObject, inside, read_tensor_records
from llamadoctor.i18n import _
from llamadoctor.llama.layout import EMBEDDING_SPLIT_DIM as EMBEDDING_SPLIT_DIM
from llamadoctor.llama.layout import embedding_split_dim
from llamadoctor.llama.layout import hf_key_from_meta as hf_key_from_meta
from llamadoctor.llama.layout import meta_key_from_hf as meta_key_from_hf
from llamadoctor.llama.layout import split_dim as split_dim
from llamadoctor.reading import display, is_interruption, open_regular, read_regular, reason
from llamadoctor.runner.args import ModelArgs, from_hf_config, from_meta_params
from llamadoctor.runner.errors import RunError

META, HF = "meta", "hf"
MAX_JSON = 64 * 1024 * 1024  # params.json, config.json and HF indexes are far smaller
# Sentences of torch's messages never repeated to the user: its advice to load with weights_only=False.
_UNSAFE_ADVICE = re.compile(r"weights_only|trusted source|arbitrary code", re.IGNORECASE)


def permute_to_hf(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Meta's interleaved rotary rows -> HF's rotate_half rows per head (wq: n_heads, wk: n_kv_heads)."""
    rows, cols = w.shape
    return w.view(n_heads, rows // n_heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


def permute_from_hf(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Inverse of `permute_to_hf`."""
    rows, cols = w.shape
    return w.view(n_heads, 2, rows // n_heads // 2, cols).transpose(1, 2).reshape(rows, cols)


def detect_format(model_dir: Path) -> str:
    if not model_dir.is_dir():
        raise RunError(
            _("model folder not found: {path}").format(path=model_dir),
            _("pass --model-dir the folder holding params.json"),
        )
    if (model_dir / "params.json").is_file() or list_shards(model_dir):
        return META
    if (model_dir / "config.json").is_file():
        return HF
    raise RunError(
        _("{path} holds neither Meta files (params.json, consolidated.00.pth) nor HF files (config.json)").format(
            path=model_dir
        ),
        _("point --model-dir at the model's own folder, e.g. llama-2-7b-chat/"),
    )


def list_shards(model_dir: Path) -> list[Path]:
    """Meta shard files in rank order (Meta sorts `*.pth` too)."""
    shards = sorted(model_dir.glob("consolidated.*.pth"))
    return shards or sorted(model_dir.glob("*.pth"))


def read_json(path: Path) -> dict[str, Any]:
    try:
        raw = read_regular(path, MAX_JSON + 1)
    except FileNotFoundError:
        raise RunError(
            _("{name} missing in {folder}").format(name=path.name, folder=display(path.parent)),
            _("download the model folder again"),
        ) from None
    except OSError as exc:
        raise _unreadable(path, exc) from None
    if len(raw) > MAX_JSON:
        raise RunError(
            _("{path} is too large to be a model's JSON file").format(path=display(path)), _("download it again")
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise RunError(
            _("{path} is JSON nested too deeply to be read").format(path=display(path)), _("download it again")
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunError(
            # TRANSLATORS: {error} is Python's JSON parser's own message.
            _("{path} is not valid JSON ({error})").format(path=display(path), error=exc),
            _("download it again (an HTML error page?)"),
        ) from None
    if not isinstance(data, dict):
        raise RunError(_("{path} is not a JSON object").format(path=display(path)), _("download it again"))
    return data


def read_args(model_dir: Path, fmt: str | None = None) -> ModelArgs:
    """ModelArgs of a model folder; Meta's vocab_size -1 is resolved from the embedding's rows."""
    fmt = fmt or detect_format(model_dir)
    name = "config.json" if fmt == HF else "params.json"
    data = read_json(model_dir / name)
    try:
        args = from_hf_config(data) if fmt == HF else from_meta_params(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise RunError(
            _("{name} does not describe a Llama model ({error})").format(name=name, error=exc),
            _("download the model folder again"),
        ) from None
    if fmt == HF:
        return args
    if args.vocab_size <= 0:
        shards = list_shards(model_dir)
        if not shards:
            raise no_shards(model_dir)
        # Llama 1/2 shard the embedding on its width, so every shard has all vocab rows.
        args = args.with_vocab(int(load_file(shards[0])["tok_embeddings.weight"].shape[0]))
    return args


def load_file(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of one .pth/.bin, memory-mapped; a damaged or unsafe file becomes a RunError."""
    head = _head(path)
    if head.startswith(b"version https://git-lfs"):
        raise RunError(
            _("{name} is a Git LFS pointer, not weights").format(name=path.name),
            _("run `git lfs pull` in the model folder"),
        )
    if len(head) == 0:
        raise RunError(_("{name} is empty (0 bytes)").format(name=path.name), _("download this shard again"))
    try:
        with _utf8_path(path) as name:
            data = torch.load(name, map_location="cpu", mmap=True, weights_only=True)
    except Exception as exc:  # truncated zip, bad pickle: all mean the same to the user
        if isinstance(exc, pickle.UnpicklingError) and _unsafe(path):
            raise RunError(f"{path.name} {_(UNSAFE_PICKLE)}", _(UNSAFE_PICKLE_FIX)) from None
        raise damaged(path, exc, _("download it again and verify with `md5sum -c checklist.chk`")) from None
    if not isinstance(data, dict):
        raise RunError(_("{name} is not a tensor dict").format(name=path.name), _("download it again"))
    return data


def _head(path: Path) -> bytes:
    """The first bytes of a weights file, which must be a regular file (a FIFO would block every reader)."""
    try:
        return read_regular(path, 64)
    except OSError as exc:
        raise _unreadable(path, exc) from None


def _unreadable(path: Path, exc: OSError) -> RunError:
    # TRANSLATORS: {reason} is the operating system's reason (e.g. permission denied).
    message = _("cannot read {path}: {reason}").format(path=display(path), reason=reason(exc))
    return RunError(message, _("download it again"))


def damaged(path: Path, exc: BaseException, fix: str) -> RunError:
    """The error for a weights file torch or safetensors cannot read."""
    # TRANSLATORS: {error} is the first line of torch's or safetensors' own error message.
    message = _("{name} is damaged or incomplete ({error})").format(name=path.name, error=torch_error_text(exc))
    return RunError(message, fix)


def no_shards(model_dir: Path) -> RunError:
    return RunError(_("no consolidated.*.pth in {path}").format(path=model_dir), _("download the checkpoint shards"))


def _unsafe(path: Path) -> bool:
    """The pickle asks for code or objects other than tensors (torch says only "Weights only load failed")."""
    try:
        with open_regular(path) as f, zipfile.ZipFile(f) as archive:
            pkl = next((i for i in archive.infolist() if i.filename.endswith("data.pkl")), None)
            if pkl is None or pkl.file_size > MAX_PICKLE:
                return False
            read_tensor_records(archive.read(pkl))
    except RefusedObject:
        return True
    except Exception:  # a damaged zip or pickle: the caller reports the file as damaged
        return False
    return False


@contextlib.contextmanager
def _utf8_path(path: Path) -> Iterator[Path]:
    """A name for `path` that torch's C++ mmap can open: the path itself, or, when its bytes are not UTF-8
    (a folder named in Latin-1, say), the open file's /dev/fd entry (the mapping outlives the descriptor)."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        if not os.path.isdir("/dev/fd"):
            raise
    else:
        yield path
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        yield Path(f"/dev/fd/{fd}")
    finally:
        os.close(fd)


def torch_error_text(exc: BaseException) -> str:
    """The first line of a loading error, without torch's advice to load with weights_only=False."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    kept = [s for s in re.split(r"(?<=\.)\s+", first) if not _UNSAFE_ADVICE.search(s)]
    return " ".join(kept) or type(exc).__name__


def iter_file_tensors(path: Path) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) of one checkpoint file (.pth, .bin or .safetensors) memory-mapped, names as stored."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        _head(path)
        try:
            with _utf8_path(path) as name, safe_open(str(name), framework="pt") as f:
                for name in f.keys():  # noqa: SIM118 (safe_open is not a Mapping)
                    yield name, f.get_tensor(name)
        except BaseException as exc:
            if isinstance(exc, RunError) or is_interruption(exc):
                raise
            raise damaged(path, exc, _("download it again")) from None
    else:
        yield from load_file(path).items()


def merge_tensor(key: str, parts: list[torch.Tensor], embedding_dim: int) -> torch.Tensor:
    """One tensor of consecutive shards merged by the split table (replicated tensors come from the first)."""
    dim = split_dim(key, embedding_dim)
    if dim is None or len(parts) == 1:
        return parts[0]
    return torch.cat(parts, dim=dim)


def split_tensor(key: str, tensor: torch.Tensor, rank: int, world: int, embedding_dim: int) -> torch.Tensor:
    """Rank `rank`'s slice of a full tensor, by the split table."""
    dim = split_dim(key, embedding_dim)
    if dim is None or world == 1:
        return tensor
    size = tensor.shape[dim]
    if size % world:
        raise RunError(
            _("{key} ({size} along dim {dim}) does not split over {world} ranks").format(
                key=key, size=size, dim=dim, world=world
            ),
            _("use fewer ranks"),
        )
    return tensor.narrow(dim, rank * (size // world), size // world)


def embedding_split_of(first_shard: Mapping[str, torch.Tensor], args: ModelArgs, n_shards: int) -> int:
    """Which dim Meta split the embedding on, read from the shard's shape (it tells Llama 1/2 from 3)."""
    if n_shards == 1:
        return embedding_split_dim(args)
    return 1 if first_shard["tok_embeddings.weight"].shape[1] < args.dim else 0


def hf_weight_files(model_dir: Path) -> list[Path]:
    """The weight files of an HF folder, via the sharded index when there is one."""
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = model_dir / index_name
        if index.is_file():
            names = _index_files(index)
            missing = [f for f in names if not (model_dir / f).is_file()]
            if missing:
                raise RunError(
                    _("{index} lists missing files: {files}").format(index=index_name, files=", ".join(missing)),
                    _("download them"),
                )
            return [model_dir / f for f in names]
    files = sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("pytorch_model*.bin"))
    if not files:
        raise RunError(
            _("no *.safetensors or pytorch_model*.bin in {path}").format(path=model_dir), _("download the weight files")
        )
    return files


def _index_files(index: Path) -> list[str]:
    """The weight files an HF index lists, refused if one would lead outside the model folder."""
    weight_map = read_json(index).get("weight_map", {})
    if not isinstance(weight_map, dict):
        raise RunError(
            _("{index} has no weight_map object").format(index=index.name), _("download the model folder again")
        )
    files = sorted({str(v) for v in weight_map.values()})
    outside = [f for f in files if not inside(f)]
    if outside:
        raise RunError(
            _("{index} names a file outside the model folder: {file}; refusing to open it").format(
                index=index.name, file=repr(display(outside[0]))
            ),
            _("download the model folder again from a source you trust"),
        )
    return files


def read_hf_state(model_dir: Path) -> dict[str, torch.Tensor]:
    """Every HF tensor the model uses, under Meta names (q/k stay in HF's layout)."""
    state: dict[str, torch.Tensor] = {}
    for path in hf_weight_files(model_dir):
        for name, tensor in iter_file_tensors(path):
            key = meta_key_from_hf(name)
            if key is not None:
                state[key] = tensor
    return state
