"""Every command reads a Llama the same way: bad params are refused with the field named, `estimate`,
`check` and `run` agree on the memory a run needs (same defaults, same dtype per device), and the ways out of
a run that does not fit are found in a bounded number of steps."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from llamadoctor.cli import app
from llamadoctor.facts import Memory
from llamadoctor.probes.files import inspect_model_dir
from llamadoctor.registry import CHECKS, load_all, run_check
from llamadoctor.testing import GiB, linux_cpu
from llamadoctor.testing_files import LLAMA2_7B, LLAMA3_8B, tiktoken_bytes

from builders import llamas

cli = CliRunner()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    return llamas.make_model_dir(root / "llama-2-tiny", family="llama2", dtype=torch.bfloat16)


def _with_params(folder: Path, tmp_path: Path, **change: object) -> Path:
    """A copy of `folder` whose params.json has these values."""
    copy = tmp_path / folder.name
    copy.mkdir()
    for path in folder.iterdir():
        (copy / path.name).symlink_to(path)
    params = json.loads((folder / "params.json").read_text())
    (copy / "params.json").unlink()
    (copy / "params.json").write_text(json.dumps({**params, **change}))
    return copy


def _memory_finding(folder: Path, available: int) -> dict:
    load_all()
    facts = linux_cpu(models=(inspect_model_dir(folder),), memory=Memory(available * 2, available))
    [finding] = run_check(CHECKS["memory-insufficient"], facts)
    return dict(finding.evidence)


# ---- bad params: one line naming the field, in every command ---------------------------------------------


@pytest.mark.parametrize(("change", "field"), [({"n_layers": 0}, "n_layers"), ({"dim": True}, "dim")])
def test_estimate_refuses_bad_params_naming_the_field(tmp_path: Path, change: dict, field: str) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "params.json").write_text(json.dumps({**LLAMA2_7B, **change}))
    result = cli.invoke(app, ["estimate", "--model-dir", str(folder), "--device", "cpu"])
    assert result.exit_code == 2
    assert f"params.json: {field} is" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not re.search(r"-\d", result.stdout)


def test_check_reports_invalid_params_as_a_finding(tmp_path: Path) -> None:
    folder = tmp_path / "llama-2-7b"
    folder.mkdir()
    (folder / "params.json").write_text(json.dumps({**LLAMA2_7B, "n_layers": 0}))
    result = cli.invoke(app, ["check", "--model-dir", str(folder), "--only", "params-invalid", "--json"])
    assert result.exit_code == 1
    messages = [f["message"] for f in json.loads(result.stdout)["findings"]]
    assert any("params.json: n_layers is 0" in m for m in messages)


def test_run_refuses_zero_layers_instead_of_running_an_empty_model(tiny: Path, tmp_path: Path) -> None:
    folder = _with_params(tiny, tmp_path, n_layers=0)
    result = cli.invoke(
        app, ["run", "text", "--model-dir", str(folder), "--device", "cpu", "--prompt", "Hi", "--max-gen-len", "2"]
    )
    assert result.exit_code == 1
    assert "n_layers is 0" in result.stderr and "Traceback" not in result.output


def test_convert_refuses_a_vocab_size_no_llama_has(tiny: Path, tmp_path: Path) -> None:
    folder = _with_params(tiny, tmp_path, vocab_size=1e12)
    result = cli.invoke(app, ["convert", "--model-dir", str(folder), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and "vocab_size is 1000000000000" in result.stderr
    assert not (tmp_path / "out").exists()


# ---- estimate, check and run agree ------------------------------------------------------------------------


def test_estimate_check_and_run_need_the_same_bytes_for_llama_3_8b_on_cpu(tmp_path: Path) -> None:
    from llamadoctor.runner import checkpoint, preflight
    from llamadoctor.runner.device import DTYPE_NAMES, pick_dtype
    from llamadoctor.runner.session import RunOptions

    folder = tmp_path / "Meta-Llama-3-8B"
    folder.mkdir()
    (folder / "params.json").write_text(json.dumps(LLAMA3_8B))
    (folder / "tokenizer.model").write_bytes(tiktoken_bytes())
    result = cli.invoke(app, ["estimate", "--model-dir", str(folder), "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    estimated = json.loads(result.stdout)
    checked = _memory_finding(folder, 1 * GiB)
    opts = RunOptions(model_dir=folder)
    dtype = DTYPE_NAMES[pick_dtype(opts.dtype, torch.device("cpu"))]
    run = preflight.memory_needed(checkpoint.read_args(folder), dtype, "cpu", opts.max_seq_len, opts.max_batch_size)
    assert estimated["dtype"] == run.dtype == "fp32"
    assert estimated["bytes"]["needed"] == checked["needed"] == run.needed_bytes


def test_run_refuses_with_the_figure_estimate_and_check_give(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    estimated = json.loads(cli.invoke(app, ["estimate", "--model-dir", str(tiny), "--device", "cpu", "--json"]).stdout)
    needed = estimated["bytes"]["needed"]
    assert _memory_finding(tiny, needed - 1)["needed"] == needed
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=needed - 1, total=needed))
    # fp32 asked for: by default the runner would fall back to a precision that fits.
    args = ["run", "text", "--model-dir", str(tiny), "--device", "cpu", "--dtype", "fp32", "--prompt", "Hi"]
    result = cli.invoke(app, args)
    assert result.exit_code == 1
    assert f"needs about {needed / GiB:.1f} GiB" in result.stderr


def test_estimate_ends_with_a_verdict_in_gib(tiny: Path) -> None:
    result = cli.invoke(app, ["estimate", "--model-dir", str(tiny), "--device", "cpu"])
    assert result.exit_code == 0
    last = result.stdout.strip().splitlines()[-1]
    assert re.match(r"^(Fits|Does not fit): needs [\d.]+ GiB \(cpu, fp32\) of [\d.]+ GiB RAM available", last)


# ---- ways out of a run that does not fit --------------------------------------------------------------------


def test_ways_out_of_a_huge_batch_take_a_bounded_number_of_estimates(monkeypatch: pytest.MonkeyPatch) -> None:
    from llamadoctor.llama import estimate, from_meta_params, memory, ways_out

    calls = []
    real = memory.estimate

    def counted(*args: object, **kwargs: object) -> memory.Estimate:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(memory, "estimate", counted)
    params = from_meta_params(LLAMA2_7B).with_vocab(32000)
    est = estimate(params, dtype="bf16", device="cuda", max_seq_len=512, max_batch_size=10**9)
    exits = ways_out(est, 80 * GiB)
    assert len(calls) < 200
    [batch] = [int(e.rsplit(" ", 1)[1]) for e in exits if e.startswith("--max-batch-size")]
    assert est.with_(max_batch_size=batch).needed_bytes <= 80 * GiB < est.with_(max_batch_size=batch + 1).needed_bytes


def test_estimate_with_a_huge_batch_answers_with_ways_out(tiny: Path) -> None:
    result = cli.invoke(app, ["estimate", "--model-dir", str(tiny), "--device", "cpu", "--max-batch-size", str(2**20)])
    assert result.exit_code == 0
    assert "Does not fit" in result.stdout and "--max-batch-size" in result.stdout
    beyond = cli.invoke(app, ["estimate", "--model-dir", str(tiny), "--max-batch-size", str(10**9)])
    assert beyond.exit_code == 2 and "--max-batch-size" in beyond.stderr
