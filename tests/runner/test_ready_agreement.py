"""`check` calls a model folder ready exactly when `run` runs it: every healthy and broken folder the suite builds,
through both commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest
import torch
from typer.testing import CliRunner, Result

from llamadoctor.cli import app as doctor
from llamadoctor.runner.cli import app as runner
from llamadoctor.testing_files import tiktoken_bytes

from builders import llamas as testing
from builders.checkpoints import write_meta_model

CLI = CliRunner()
Build = Callable[[Path, dict[str, Path]], Path]
LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\noid sha256:4a5b\nsize 13476925163\n"
# A protobuf with SentencePiece's outline but no unknown piece, which SentencePiece refuses to load.
FAKE_SENTENCEPIECE = b"".join(b"\x0a\x09\x0a\x02p" + bytes([48 + i]) + b"\x15\x00\x00\x00\x00" for i in range(9))
HTML = b"<!DOCTYPE html>\n<html><head><title>Access denied</title></head><body>expired</body></html>\n"


def healthy(family: str, fmt: str, **kw: int) -> Build:
    def build(folder: Path, toks: dict[str, Path]) -> Path:
        tok = toks["tiktoken" if family.startswith("llama3") else "sentencepiece"]
        return testing.make_model_dir(folder, family=family, fmt=fmt, tokenizer=tok, **kw)

    return build


def broken(base: Build, damage: Callable[[Path], object]) -> Build:
    def build(folder: Path, toks: dict[str, Path]) -> Path:
        model = base(folder, toks)
        damage(model)
        return model

    return build


def write(name: str, data: bytes) -> Callable[[Path], object]:
    return lambda model: (model / name).write_bytes(data)


def remove(name: str) -> Callable[[Path], object]:
    return lambda model: (model / name).unlink()


def truncate(name: str) -> Callable[[Path], object]:
    return lambda model: (model / name).write_bytes((model / name).read_bytes()[:1000])


def params(**values: object) -> Callable[[Path], object]:
    def damage(model: Path) -> None:
        path = model / "params.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **values}))

    return damage


def without_layer(model: Path) -> None:
    state = torch.load(model / "consolidated.00.pth", weights_only=True)
    torch.save({k: v for k, v in state.items() if not k.startswith("layers.1.")}, model / "consolidated.00.pth")


def tokenizer_in_parent(model: Path) -> None:
    (model / "tokenizer.model").rename(model.parent / "tokenizer.model")


def other_sentencepiece(model: Path) -> None:
    testing.train_sentencepiece(model / "tokenizer.model", vocab_size=600)


def tiktoken_tokenizer(model: Path) -> None:
    testing.write_tiktoken(model / "tokenizer.model")


def sentencepiece_tokenizer(model: Path) -> None:
    testing.train_sentencepiece(model / "tokenizer.model")


def only_tokenizer_json(family: str) -> Build:
    return lambda folder, toks: testing.make_hf_dir_with_tokenizer_json(folder, family)


def doctor_meta(**kw: object) -> Build:
    """The doctor tests' tiny Meta folder: zero weights of exact shapes, a SentencePiece of 40 pieces, a checklist."""
    return lambda folder, toks: write_meta_model(folder, **kw)


LLAMA2_META, LLAMA3_META = healthy("llama2", "meta"), healthy("llama3.1", "meta")
LLAMA2_HF, LLAMA3_HF = healthy("llama2", "hf"), healthy("llama3.1", "hf", hf_shards=2)

FOLDERS: dict[str, tuple[Build, bool]] = {
    # name: (builder, whether it runs)
    "llama2-meta": (LLAMA2_META, True),
    "llama2-meta-2-shards": (healthy("llama2", "meta", shards=2), True),
    "llama3.1-meta": (LLAMA3_META, True),
    "llama3.1-meta-2-shards": (healthy("llama3.1", "meta", shards=2), True),
    "llama1-meta": (healthy("llama1", "meta"), True),
    "llama2-meta-tokenizer-beside-it": (broken(LLAMA2_META, tokenizer_in_parent), True),
    "llama2-hf": (LLAMA2_HF, True),
    "llama3.1-hf-2-files": (LLAMA3_HF, True),
    "llama2-hf-only-tokenizer-json": (only_tokenizer_json("llama2"), True),
    "llama3.1-hf-only-tokenizer-json": (only_tokenizer_json("llama3.1"), True),
    "0-byte-shard": (broken(LLAMA2_META, write("consolidated.00.pth", b"")), False),
    "lfs-pointer-shard": (broken(LLAMA2_META, write("consolidated.00.pth", LFS_POINTER)), False),
    "truncated-shard": (broken(LLAMA2_META, truncate("consolidated.00.pth")), False),
    "html-shard": (broken(LLAMA2_META, write("consolidated.00.pth", HTML)), False),
    "no-shard": (broken(LLAMA2_META, remove("consolidated.00.pth")), False),
    "missing-params-json": (broken(LLAMA2_META, remove("params.json")), False),
    "0-byte-params-json": (broken(LLAMA2_META, write("params.json", b"")), False),
    "params-without-n-heads": (broken(LLAMA2_META, params(n_heads=None)), False),
    "params-with-more-layers": (broken(LLAMA2_META, params(n_layers=3)), False),
    "params-with-another-dim": (broken(LLAMA2_META, params(dim=128)), False),
    "shard-missing-a-layer": (broken(LLAMA2_META, without_layer), False),
    "missing-tokenizer": (broken(LLAMA2_META, remove("tokenizer.model")), False),
    "0-byte-tokenizer": (broken(LLAMA2_META, write("tokenizer.model", b"")), False),
    "lfs-pointer-tokenizer": (broken(LLAMA2_META, write("tokenizer.model", LFS_POINTER)), False),
    "llama3-tokenizer-for-llama2": (broken(LLAMA2_META, tiktoken_tokenizer), False),
    "llama2-tokenizer-for-llama3": (broken(LLAMA3_META, sentencepiece_tokenizer), False),
    "tokenizer-of-another-vocab-meta": (broken(LLAMA2_META, other_sentencepiece), False),
    "tokenizer-of-another-vocab-hf": (broken(LLAMA2_HF, other_sentencepiece), False),
    "hf-missing-tokenizer": (broken(LLAMA2_HF, remove("tokenizer.model")), False),
    "hf-missing-config": (broken(LLAMA2_HF, remove("config.json")), False),
    "hf-truncated-safetensors": (broken(LLAMA2_HF, truncate("model.safetensors")), False),
    "hf-lfs-pointer-safetensors": (broken(LLAMA2_HF, write("model.safetensors", LFS_POINTER)), False),
    "hf-index-names-a-missing-file": (broken(LLAMA3_HF, remove("model-00002-of-00002.safetensors")), False),
    "doctor-meta": (doctor_meta(), True),
    "doctor-meta-2-shards": (doctor_meta(n_shards=2), True),
    "doctor-meta-tokenizer-beside-it": (doctor_meta(tokenizer_in_parent=True), True),
    "doctor-meta-tiktoken-for-llama2": (doctor_meta(tokenizer=tiktoken_bytes()), False),
    "doctor-meta-fake-sentencepiece": (doctor_meta(tokenizer=FAKE_SENTENCEPIECE), False),
    "doctor-meta-params-with-another-dim": (broken(doctor_meta(), params(dim=128)), False),
    "doctor-meta-0-byte-lfs-html-shards": (
        broken(
            doctor_meta(n_shards=3),
            lambda m: [
                write("consolidated.00.pth", b"")(m),
                write("consolidated.01.pth", LFS_POINTER)(m),
                write("consolidated.02.pth", HTML)(m),
            ],
        ),
        False,
    ),
    "hf-tokenizer-json-not-json": (
        broken(only_tokenizer_json("llama2"), write("tokenizer.json", b"<html>not json</html>")),
        False,
    ),
}


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No model folder but the one given: an empty current folder, home and Hugging Face cache."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(home)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    return tmp_path


def check(model: Path) -> tuple[int, Result]:
    result = CLI.invoke(doctor, ["check", "--model-dir", str(model), "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result


def run_text(model: Path) -> tuple[int, Result]:
    args = ["text", "--model-dir", str(model), "--prompt", "hi", "--max-gen-len", "2", "--device", "cpu"]
    result = CLI.invoke(runner, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_check_says_ready_exactly_when_run_text_works(
    name: str, isolated: Path, tokenizer_files: dict[str, Path]
) -> None:
    build, runs = FOLDERS[name]
    model = build(isolated / "models" / name, tokenizer_files)
    check_code, checked = check(model)
    run_code, ran = run_text(model)
    summary = json.loads(checked.stdout)["summary"]
    assert (run_code == 0) is runs, ran.output
    assert (check_code, summary["ready"]) == ((0, True) if runs else (1, False)), checked.stdout
    if not runs:
        assert (
            run_code == 1
            and ran.output.startswith("llamadoctor: error: ")
            and len(ran.output.strip().splitlines()) == 1
        )


def test_a_tokenizer_json_without_the_tokenizers_library_is_reported_before_loading(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, tokenizer_files: dict[str, Path]
) -> None:
    import importlib.util
    import sys

    model = only_tokenizer_json("llama2")(isolated / "models" / "Llama-2-7b-hf", tokenizer_files)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "tokenizers" else find_spec(n, *a))
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    check_code, checked = check(model)
    assert check_code == 1 and "tokenizer-library-missing" in checked.stdout
    run_code, ran = run_text(model)
    assert run_code == 1 and "`tokenizers` library" in ran.output and len(ran.output.strip().splitlines()) == 1


def test_the_run_refuses_with_the_doctor_words(isolated: Path, tokenizer_files: dict[str, Path]) -> None:
    model = broken(LLAMA2_META, write("consolidated.00.pth", LFS_POINTER))(
        isolated / "m" / "llama-2-7b", tokenizer_files
    )
    _, checked = check(model)
    [finding] = [f for f in json.loads(checked.stdout)["findings"] if f["severity"] == "error"]
    _, ran = run_text(model)
    assert ran.output.startswith(f"llamadoctor: error: {' '.join(finding['message'].split())}  fix: ")
