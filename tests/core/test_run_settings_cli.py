"""`llamadoctor check --max-seq-len` on a real (tiny) Meta folder written by the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamadoctor.cli import app

from builders.checkpoints import write_meta_model

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_usual_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("HF_HOME", "HF_HUB_CACHE"):
        monkeypatch.delenv(name, raising=False)


def _check(model: Path, seq_len: int) -> dict[str, object]:
    args = ["check", "--json", "--only", "max-seq-len-past-context", "--model-dir", str(model)]
    result = runner.invoke(app, [*args, "--max-seq-len", str(seq_len)])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_max_seq_len_past_a_llama2_folders_context(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "llama-2-7b")
    (finding,) = _check(model, 8192)["findings"]  # type: ignore[misc]
    assert finding["check"] == "max-seq-len-past-context"
    assert "--max-seq-len 8192 is past the context of" in finding["message"]
    assert "Llama 2 was trained for 4096 tokens" in finding["message"]
    assert _check(model, 4096)["findings"] == []
