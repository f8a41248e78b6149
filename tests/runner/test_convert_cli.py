"""`llamadoctor convert` on the command line: exit codes, one line on stderr, never a traceback, cheap import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from llamadoctor.runner.conversion import convert as conv

from builders import llamas


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    from llamadoctor.cli import app

    return app  # the whole CLI: its one error handler words and codes convert's failures


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return llamas.make_model_dir(tmp_path_factory.mktemp("cli") / "llama-2-tiny", family="llama2", shards=2)


def _run(app: typer.Typer, *args: str):
    try:
        return CliRunner(mix_stderr=False).invoke(app, ["convert", *args])
    except TypeError:  # click 8.2 always separates stderr
        return CliRunner().invoke(app, ["convert", *args])


def test_converts_and_reports(app, src, tmp_path) -> None:
    result = _run(app, "--model-dir", str(src), "--out", str(tmp_path / "hf"))
    assert result.exit_code == 0, result.stderr
    assert "wrote" in result.stdout and (tmp_path / "hf" / "config.json").is_file()
    assert "Llama 2, 2 Meta shard(s) -> Hugging Face" in result.stderr


def test_shards_alone_means_meta_output(app, src, tmp_path) -> None:
    result = _run(app, "--model-dir", str(src), "--shards", "1", "--out", str(tmp_path / "mp1"))
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in (tmp_path / "mp1").glob("*.pth")] == ["consolidated.00.pth"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--model-dir", "{tmp}/missing", "--out", "{tmp}/o"), "does not exist"),
        (("--model-dir", "{src}", "--out", "{tmp}/o", "--to", "gguf"), "unknown --to"),
        (("--model-dir", "{src}", "--out", "{tmp}/o", "--to", "meta", "--shards", "3"), "do not split over 3"),
        (("--model-dir", "{src}", "--out", "{src}"), "is the model being converted"),
        (("--model-dir", "{src}", "--out", "{src}/..", "--force"), "holds the model being converted"),
        (("--model-dir", "{tmp}", "--out", "{tmp}/o"), "holds neither Meta files"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(app, src, tmp_path, args, message) -> None:
    result = _run(app, *(a.format(tmp=tmp_path, src=src) for a in args))
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr + result.stdout


def test_existing_out_exit_2_and_force_replaces(app, src, tmp_path) -> None:
    (tmp_path / "o").mkdir()
    result = _run(app, "--model-dir", str(src), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "already exists" in result.stderr and "--force" in result.stderr
    assert _run(app, "--model-dir", str(src), "--out", str(tmp_path / "o"), "--force").exit_code == 0


def test_not_enough_disk_exit_1_with_numbers(app, src, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(conv, "disk_free", lambda path: 1000)
    result = _run(app, "--model-dir", str(src), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1, result.stderr
    assert "not enough disk space" in result.stderr and "0.0 MB free" in result.stderr
    assert not (tmp_path / "o").exists()


def test_damaged_shard_exit_1(app, src, tmp_path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in src.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "consolidated.01.pth").write_bytes((bad / "consolidated.01.pth").read_bytes()[:1000])
    result = _run(app, "--model-dir", str(bad), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1 and "damaged or incomplete" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad"]


def test_import_does_not_load_torch() -> None:
    code = "import sys, llamadoctor.runner.conversion.cli; print('torch' in sys.modules, 'safetensors' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"]
