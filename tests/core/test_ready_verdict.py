"""The verdict says what is ready: a model folder it examined, or only the machine."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamadoctor.cli import app
from llamadoctor.engine import run
from llamadoctor.registry import all_checks
from llamadoctor.testing import linux_gpu
from llamadoctor.testing_files import hf_model, meta_model


def test_with_no_model_folder_only_the_machine_is_called_ready() -> None:
    verdict = run(linux_gpu(), all_checks()).verdict()
    assert "no model folder" in verdict and "--model-dir" in verdict
    assert not verdict.startswith("ready")


def test_a_model_found_only_in_the_usual_places_is_not_the_one_called_ready() -> None:
    cached = dataclasses.replace(hf_model(), source="hf-cache")
    verdict = run(linux_gpu(models=(cached,)), all_checks()).verdict()
    assert "no model folder" in verdict and not verdict.startswith("ready")


def test_the_verdict_names_the_model_folder_it_found_ready() -> None:
    verdict = run(linux_gpu(models=(meta_model(),)), all_checks()).verdict()
    assert verdict.startswith("ready to run llama-2-7b on CUDA")


def test_check_in_an_empty_folder_does_not_call_a_model_ready(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    result = CliRunner().invoke(app, ["check", "--json"])
    summary = json.loads(result.output)["summary"]
    assert result.exit_code == summary["exit_code"] == 0
    assert "no model folder" in summary["verdict"] and not summary["verdict"].startswith("ready")
