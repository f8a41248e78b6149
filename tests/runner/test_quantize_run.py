"""`run text|chat --quantize` as a user sees it, and the CPU's default precision chosen by free memory."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from llamadoctor.runner import session
from llamadoctor.runner.cli import app

runner = CliRunner()
GREEDY = ["--temperature", "0", "--device", "cpu", "--max-gen-len", "8", "--prompt", "The Eiffel Tower is"]


def _run(*args: object):
    return runner.invoke(app, ["text", *map(str, args), *GREEDY], catch_exceptions=False)


@pytest.mark.parametrize("kind", ["int8", "int4"])
def test_text_runs_quantized_and_says_so_on_the_stats_line(model_dir, kind: str) -> None:
    result = _run("--model-dir", model_dir("llama2", "meta"), "--quantize", kind)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1].endswith(f"(cpu, fp32 + {kind})")


def test_an_unknown_quantization_is_one_line(model_dir) -> None:
    result = _run("--model-dir", model_dir("llama2", "meta"), "--quantize", "int3")
    assert result.exit_code == 2
    assert "unknown quantize 'int3'" in result.stderr and "Traceback" not in result.stderr


def _stats(folder, *args: object) -> dict:
    result = _run("--model-dir", folder, *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["stats"]


@pytest.mark.parametrize(("dtype", "quantize"), [("fp32", None), ("bf16", None), ("bf16", "int8")])
def test_the_cpu_default_falls_back_to_what_fits_in_free_memory(
    model_dir, monkeypatch: pytest.MonkeyPatch, dtype: str, quantize: str | None
) -> None:
    from llamadoctor.runner import checkpoint, preflight

    folder = model_dir("llama2", "meta")
    args = checkpoint.read_args(folder)
    needs = [preflight.memory_needed(args, d, "cpu", 512, 6, 1, q).needed_bytes for d, q in session.CPU_PRECISIONS]
    assert needs == sorted(needs, reverse=True)
    # Free memory just enough for the expected precision, and too little for the one before it.
    monkeypatch.setattr(session, "available_ram", lambda: needs[session.CPU_PRECISIONS.index((dtype, quantize))])
    result = runner.invoke(app, ["text", "--model-dir", str(folder), *GREEDY], catch_exceptions=False)
    stats = _stats(folder)
    assert (stats["dtype"], stats["quantize"]) == (dtype, quantize)
    if dtype == "fp32":
        assert stats["fallback"] is None
    else:
        assert f"running {dtype}" in result.stderr and "fp32 would need" in result.stderr
        assert "fp32 would need" in result.stdout.splitlines()[-1]


def test_an_explicit_dtype_is_never_overridden(model_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "available_ram", lambda: 1)
    result = _run("--model-dir", model_dir("llama2", "meta"), "--dtype", "fp32")
    assert result.exit_code == 1 and "GiB free" in result.stderr
