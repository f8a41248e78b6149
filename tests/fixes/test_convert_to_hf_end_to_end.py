"""`llamadoctor fix convert-to-hf` on a real Meta folder that Hugging Face tools were given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamadoctor.cli import app

pytest.importorskip("torch")
runner = CliRunner()


def test_meta_folder_meant_for_hf_is_converted_beside_it_and_the_check_then_passes(tmp_path: Path) -> None:
    from builders.llamas import make_model_dir

    model = make_model_dir(tmp_path / "Llama-2-7b-hf", "llama2")
    before = {p.name: p.read_bytes() for p in model.iterdir()}
    args = ["--model-dir", str(model), "--no-hash"]
    check = runner.invoke(app, ["check", *args, "--json", "--only", "model-dir-incomplete"])
    assert "does not appear to have a file named config.json" in check.stdout

    done = runner.invoke(app, ["fix", "convert-to-hf", *args, "--yes"])
    assert done.exit_code == 0, done.stdout
    assert "✓ fixed" in done.stdout
    converted = tmp_path / "Llama-2-7b-hf-converted"
    assert {"config.json", "model.safetensors.index.json", "tokenizer.model"} <= {p.name for p in converted.iterdir()}
    assert {p.name: p.read_bytes() for p in model.iterdir()} == before  # the input is never touched

    after = json.loads(runner.invoke(app, ["check", *args, "--json", "--only", "model-dir-incomplete"]).stdout)
    assert [f["severity"] for f in after["findings"]] == ["info"]
    assert str(converted) in after["findings"][0]["message"] and after["summary"]["ready"]
