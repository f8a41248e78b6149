"""Tiny model folders built once per test session (a few ms each) and shared by the runner tests."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from builders import llamas

ModelDirFactory = Callable[..., Path]


@pytest.fixture(scope="session")
def tokenizer_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tokenizers")
    return {
        "sentencepiece": llamas.train_sentencepiece(root / "sp" / "tokenizer.model"),
        "tiktoken": llamas.write_tiktoken(root / "tt" / "tokenizer.model"),
    }


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer_files: dict[str, Path]) -> ModelDirFactory:
    """`model_dir(family, fmt, shards=1, hf_shards=1, name=None)` -> a cached tiny model folder (seed 0)."""
    root = tmp_path_factory.mktemp("models")
    cache: dict[tuple[object, ...], Path] = {}

    def make(
        family: str = "llama2",
        fmt: str = "meta",
        shards: int = 1,
        hf_shards: int = 1,
        name: str | None = None,
    ) -> Path:
        key = (family, fmt, shards, hf_shards, name)
        if key not in cache:
            tok = tokenizer_files["tiktoken" if family.startswith("llama3") else "sentencepiece"]
            folder = root / (name or f"{family}-{fmt}-mp{shards}-hf{hf_shards}-chat")
            cache[key] = llamas.make_model_dir(
                folder, family=family, fmt=fmt, shards=shards, hf_shards=hf_shards, tokenizer=tok
            )
        return cache[key]

    return make
