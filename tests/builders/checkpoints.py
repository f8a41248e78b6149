"""Tiny Meta-format model folders on disk, with torch: consolidated.NN.pth shards of the exact shapes Meta's
have (zeros), params.json, tokenizer.model and a checklist.chk holding the real md5 of each file.

    folder = write_meta_model(tmp_path / "llama-2-7b", TINY, n_shards=2)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llamadoctor.testing_files import TINY, TINY_VOCAB, llama_params, sentencepiece_bytes


def write_shards(
    folder: Any,
    params: Mapping[str, Any] = TINY,
    n_shards: int = 1,
    *,
    vocab: int = TINY_VOCAB,
    dtype: str = "bfloat16",
) -> list[Any]:
    """consolidated.NN.pth with tiny tensors of exactly the shapes Meta's shards of `params` have."""
    import torch

    from llamadoctor.llama import shard_shapes

    arch = llama_params(params, vocab)
    shapes = shard_shapes(arch, n_shards)
    paths = []
    for i in range(n_shards):
        tensors = {}
        for key, shape in shapes.items():
            names = (
                [key]
                if not key.startswith("layers.0.")
                else [key.replace("layers.0.", f"layers.{n}.", 1) for n in range(arch.n_layers)]
            )
            for name in names:
                tensors[name] = torch.zeros(shape, dtype=getattr(torch, dtype))
        tensors["rope.freqs"] = torch.zeros(arch.head_dim // 2)
        path = folder / f"consolidated.{i:02d}.pth"
        torch.save(tensors, path)
        paths.append(path)
    return paths


def write_meta_model(
    folder: Any,
    params: Mapping[str, Any] = TINY,
    *,
    n_shards: int = 1,
    tokenizer: bytes | None = None,
    tokenizer_in_parent: bool = False,
    checklist: bool = True,
    dtype: str = "bfloat16",
) -> Any:
    """A complete tiny Meta-format folder, with checklist.chk holding the real md5 of each file."""
    import hashlib
    import json

    folder.mkdir(parents=True, exist_ok=True)
    write_shards(folder, params, n_shards, dtype=dtype)
    (folder / "params.json").write_text(json.dumps(params) + "\n")
    tok = sentencepiece_bytes() if tokenizer is None else tokenizer
    (folder.parent if tokenizer_in_parent else folder).joinpath("tokenizer.model").write_bytes(tok)
    if checklist:
        names = sorted(p.name for p in folder.iterdir() if p.suffix in (".pth", ".json"))
        lines = [f"{hashlib.md5((folder / n).read_bytes(), usedforsecurity=False).hexdigest()}  {n}\n" for n in names]
        (folder / "checklist.chk").write_text("".join(lines))
    return folder
