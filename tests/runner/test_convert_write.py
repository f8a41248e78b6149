"""`llamadoctor convert` when writing fails (a full disk, an I/O error, a read-only filesystem): one line, exit 1,
nothing left behind, the source untouched; and the Meta writer's .pth is what torch.save would write."""

from __future__ import annotations

import errno
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from llamadoctor.runner.conversion import writers as convert_io

from builders import llamas


def _tree(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture()
def src(tmp_path: Path, tokenizer_files: dict[str, Path]) -> Path:
    return llamas.make_model_dir(
        tmp_path / "in" / "llama-2-tiny", family="llama2", shards=2, tokenizer=tokenizer_files["sentencepiece"]
    )


def _invoke(*args: str):
    from llamadoctor.cli import app

    try:
        return CliRunner(mix_stderr=False).invoke(app, ["convert", *args])
    except TypeError:  # click 8.2 always separates stderr
        return CliRunner().invoke(app, ["convert", *args])


def _limit_file_size() -> None:
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE")
@pytest.mark.parametrize("extra", [("--shards", "1"), ("--to", "hf")])
def test_a_write_that_fails_midway_is_one_line_exit_1_and_leaves_nothing(src, tmp_path, extra) -> None:
    before = _tree(src)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "llamadoctor", "convert", "--model-dir", str(src), "--out", str(out), *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, preexec_fn=_limit_file_size)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "terminate called" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("llamadoctor: error:")]
    assert len(errors) == 1 and "File too large" in errors[0], done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
    assert _tree(src) == before


@pytest.mark.parametrize(
    ("code", "text"),
    [(errno.ENOSPC, "No space left on device"), (errno.EIO, "Input/output error"), (errno.EROFS, "Read-only")],
)
@pytest.mark.parametrize(("writer", "extra"), [("TorchWriter", ("--shards", "1")), ("SafetensorsWriter", ())])
def test_every_write_error_is_one_line_exit_1(src, tmp_path, monkeypatch, code, text, writer, extra) -> None:
    def fail(self, tensor) -> None:
        raise OSError(code, text)

    monkeypatch.setattr(getattr(convert_io, writer), "write", fail)
    before = _tree(src)
    result = _invoke("--model-dir", str(src), "--out", str(tmp_path / "new" / "deeper" / "out"), *extra)
    assert result.exit_code == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("llamadoctor: error:")]
    assert len(errors) == 1 and text in errors[0] and "fix:" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
    assert _tree(src) == before


def test_meta_writer_output_loads_like_torch_save_with_mmap(tmp_path) -> None:
    state = {
        "a": torch.arange(12, dtype=torch.float32).reshape(3, 4),
        "b": torch.randn(5, dtype=torch.float32).to(torch.bfloat16),
        "c": torch.arange(7, dtype=torch.int64),
    }
    path = tmp_path / "consolidated.00.pth"
    writer = convert_io.TorchWriter(path, [convert_io.TensorSpec(k, tuple(t.shape), t.dtype) for k, t in state.items()])
    for t in state.values():
        writer.write(t)
    writer.close()
    loaded = torch.load(path, mmap=True, weights_only=True)
    assert list(loaded) == list(state)
    for key, t in state.items():
        assert loaded[key].dtype == t.dtype and torch.equal(loaded[key], t), key


def test_meta_output_passes_the_doctors_shard_checks(src, tmp_path) -> None:
    from llamadoctor.runner.conversion import convert as conv
    from llamadoctor.runner.conversion.source import doctor_errors

    out = conv.convert(conv.Request(src, tmp_path / "mp1", to="meta", shards=1)).out
    assert doctor_errors(out) == []
