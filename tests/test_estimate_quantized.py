"""Quantized sizes, from the one formula `check`, `estimate` and `run` share: 7B in about 7 GB (int8) and 4 GB
(int4), every precision side by side, and the exact `run --quantize` command where only quantization fits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamadoctor.cli import app
from llamadoctor.facts import Memory
from llamadoctor.llama import estimate, from_meta_params
from llamadoctor.llama.memory import quantized_bytes
from llamadoctor.registry import CHECKS, load_all, run_check
from llamadoctor.testing import GiB, gpu, linux_cpu, linux_gpu, nvidia
from llamadoctor.testing_files import LLAMA2_7B, meta_model

from builders import llamas

LLAMA2 = from_meta_params({**LLAMA2_7B, "vocab_size": 32000})


def test_llama2_7b_weighs_about_7_gb_in_int8_and_4_gb_in_int4() -> None:
    fp16 = estimate(LLAMA2, dtype="fp16").weights_bytes
    int8 = estimate(LLAMA2, dtype="fp16", quantize="int8").weights_bytes
    int4 = estimate(LLAMA2, dtype="fp16", quantize="int4").weights_bytes
    assert 6.7e9 < int8 < 6.8e9 and 4.2e9 < int4 < 4.4e9 and fp16 > 13.4e9
    # int8 is 1 byte a parameter plus 4 bytes of scale per row; int4 half a byte plus 4 bytes per 32 columns.
    assert quantized_bytes(4096, 11008, "int8") == 4096 * 11008 + 4 * 4096
    assert quantized_bytes(4096, 11008, "int4") == 4096 * 11008 // 2 + 4 * 4096 * 11008 // 32
    assert quantized_bytes(100, 64, "int4") == 100 * 64 + 400  # rows the kernels cannot block stay int8


def _finding(facts) -> str:
    load_all()
    [finding] = [o for o in run_check(CHECKS["memory-insufficient"], facts) if hasattr(o, "message")]
    return str(finding.message)


def test_check_gives_the_run_command_that_fits_a_12_gb_card() -> None:
    model = meta_model()
    message = _finding(linux_gpu(models=(model,), gpu=nvidia(gpu("NVIDIA GeForce RTX 4070", vram_gib=12))))
    assert f"`llamadoctor run chat --model-dir {model.path} --quantize int8`" in message


def test_check_offers_int4_where_int8_does_not_fit_either() -> None:
    model = meta_model()
    message = _finding(linux_cpu(models=(model,), memory=Memory(16 * GiB, 15 * GiB // 2)))
    assert "--quantize int4 --dtype bf16`" in message


def test_check_gives_no_quantized_command_where_bf16_already_fits() -> None:
    model = meta_model()
    message = _finding(linux_cpu(models=(model,), memory=Memory(32 * GiB, 20 * GiB)))
    assert "--dtype bf16" in message and "--quantize" not in message


@pytest.mark.parametrize("kind", ["int8", "int4"])
def test_estimate_shows_every_precision_side_by_side(tmp_path: Path, kind: str) -> None:
    folder = llamas.make_model_dir(tmp_path / "m", family="llama2")
    runner = CliRunner()
    args = ["estimate", "--model-dir", str(folder), "--device", "cpu"]
    text = runner.invoke(app, [*args, "--quantize", kind])
    assert text.exit_code == 0, text.stderr
    assert f"weights (fp32 + {kind})" in text.stdout
    for row in ("fp32 ", "bf16 ", "fp16 ", "fp32 + int8  (--quantize int8)", "fp32 + int4  (--quantize int4)"):
        assert row in text.stdout
    data = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    rows = {(p["dtype"], p["quantize"]): p for p in data["precisions"]}
    assert rows[("fp32", "int8")]["weights"] < rows[("bf16", None)]["weights"] < rows[("fp32", None)]["weights"]
    assert all(isinstance(p["fits"], bool) for p in data["precisions"])


def test_estimate_refuses_an_unknown_quantization(tmp_path: Path) -> None:
    folder = llamas.make_model_dir(tmp_path / "m", family="llama2")
    result = CliRunner().invoke(app, ["estimate", "--model-dir", str(folder), "--quantize", "int2"])
    assert result.exit_code == 2 and "--quantize must be int8 or int4" in result.stderr
