"""`llamadoctor check` end to end with the serving options: files written here, nothing downloaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamadoctor.cli import app
from tests.builders.gguf import ggml_file, llama_gguf

ONLY = "gguf-format-era,gguf-vocab-mismatch,gguf-pretokenizer-unknown,hf-hub-unreachable,hf-gated-no-access"


def check(*args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = CliRunner().invoke(app, ["check", "--json", "--only", ONLY, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, json.loads(result.stdout)


def messages(report: dict, check_id: str) -> list[str]:  # type: ignore[type-arg]
    return [f["message"] for f in report["findings"] if f["check"] == check_id]


def test_a_ggml_file_and_a_mismatched_gguf_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    old = ggml_file(tmp_path / "llama-2-7b.ggmlv3.q4_0.bin")
    bad = llama_gguf(tmp_path / "bad.gguf", tokens=260, rows=256)
    code, report = check("--model-file", str(old), "--model-file", str(bad))
    assert code == 1
    assert any("invalid magic number 67676a74" in m for m in messages(report, "gguf-format-era"))
    assert any("260 tokens but its embedding has 256 rows" in m for m in messages(report, "gguf-vocab-mismatch"))


def test_a_good_gguf_in_the_folder_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    llama_gguf(tmp_path / "good.gguf")
    _, report = check("--repo", str(tmp_path))
    statuses = {r["check"]: r["status"] for r in report["checks"]}
    assert statuses["gguf-format-era"] == statuses["gguf-vocab-mismatch"] == "passed"


def test_a_gated_repo_offline_without_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, report = check("--hf-repo", "meta-llama/Llama-3.2-1B", "--repo", str(tmp_path))
    assert code == 1
    assert any("HF_HUB_OFFLINE=1" in m for m in messages(report, "hf-hub-unreachable"))
    assert any("no Hugging Face token" in m for m in messages(report, "hf-gated-no-access"))
