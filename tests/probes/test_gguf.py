"""The GGUF/GGML header probe against files written byte by byte."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from llamadoctor.probes.gguf import probe_model_files, read_model_file
from tests.builders.gguf import ggml_file, gguf_bytes, llama_gguf


@pytest.mark.parametrize("version", [1, 2, 3])
def test_gguf_header_fields_in_every_version(tmp_path: Path, version: int) -> None:
    path = llama_gguf(tmp_path / "m.gguf", tokens=300, rows=301, pre="smaug-bpe", vocab_size=301, version=version)
    found = read_model_file(path)
    assert found is not None
    assert (found.format, found.version, found.error) == ("gguf", version, None)
    assert (found.architecture, found.pre_tokenizer) == ("llama", "smaug-bpe")
    assert (found.token_count, found.vocab_size, found.embedding_rows) == (300, 301, 301)


@pytest.mark.parametrize(("magic", "fmt"), [(b"tjgg", "ggjt"), (b"lmgg", "ggml"), (b"fmgg", "ggmf")])
def test_old_magics_are_named(tmp_path: Path, magic: bytes, fmt: str) -> None:
    found = read_model_file(ggml_file(tmp_path / "llama-2-7b.ggmlv3.q4_0.bin", magic))
    assert found is not None
    assert (found.format, found.magic, found.version) == (fmt, magic.hex(), 3)


def test_a_truncated_header_says_so_and_keeps_what_it_read(tmp_path: Path) -> None:
    whole = llama_gguf(tmp_path / "whole.gguf").read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(whole[: len(whole) - 80])
    found = read_model_file(cut)
    assert found is not None and found.error is not None and "truncated" in found.error
    assert found.pre_tokenizer == "llama-bpe" and found.embedding_rows is None


def test_a_hostile_count_stops_reading(tmp_path: Path) -> None:
    path = tmp_path / "evil.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1, 2**60))
    found = read_model_file(path)
    assert found is not None and "implausible" in (found.error or "")


def test_folders_yield_only_model_files_and_named_files_always(tmp_path: Path) -> None:
    llama_gguf(tmp_path / "a.gguf")
    (tmp_path / "pytorch_model.bin").write_bytes(b"PK\x03\x04" + b"\0" * 60)
    named = tmp_path / "elsewhere.dat"
    named.write_bytes(b"<html>not a model</html>")
    found = probe_model_files([named], [tmp_path])
    assert [(Path(f.path).name, f.format) for f in found] == [("elsewhere.dat", "unknown"), ("a.gguf", "gguf")]
    assert found[0].magic == b"<htm".hex()


def test_the_metadata_order_does_not_matter(tmp_path: Path) -> None:
    path = tmp_path / "late.gguf"
    tokens = [f"t{i}" for i in range(10)]
    path.write_bytes(gguf_bytes({"tokenizer.ggml.tokens": tokens, "general.architecture": "llama"}, {}))
    found = read_model_file(path)
    assert found is not None and (found.token_count, found.architecture, found.pre_tokenizer) == (10, "llama", None)


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_strings_across_buffer_refills_read_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    from llamadoctor.probes import gguf

    path = llama_gguf(tmp_path / "m.gguf", tokens=97, rows=98, vocab_size=97)
    whole = read_model_file(path)
    monkeypatch.setattr(gguf._Reader, "CHUNK", chunk)
    assert read_model_file(path) == whole
    assert whole is not None and (whole.token_count, whole.embedding_rows) == (97, 98)
