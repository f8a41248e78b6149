"""The commands on hostile model folders, as a user runs them: each finishes (a deadline guards every run),
reports what is wrong, and Ctrl-C while hashing stops at once."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from builders.checkpoints import write_meta_model

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and signals are POSIX")
DEADLINE = 120  # seconds; a command that blocks on a FIFO would never end
STOPPED = 30  # seconds after Ctrl-C; a small part of what hashing the sparse file below takes


def llamadoctor(tmp_path: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    work = cwd or tmp_path / "cwd"
    work.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "llamadoctor", *args],
        cwd=work,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, HOME=str(tmp_path / "home"), LLAMADOCTOR_STATE_DIR=str(tmp_path / "state"))
    env.pop("HF_HOME", None)
    env.pop("HF_HUB_CACHE", None)
    return env


def test_a_malformed_header_in_one_folder_hides_no_error_in_another(tmp_path: Path) -> None:
    bad = tmp_path / "bad-hf"
    bad.mkdir()
    (bad / "config.json").write_text('{"model_type": "llama"}')
    (bad / "model.safetensors").write_bytes(struct.pack("<Q", 6) + b"[1, 2]")
    broken = write_meta_model(tmp_path / "llama-2-7b")
    (broken / "consolidated.00.pth").write_bytes(b"")
    done = llamadoctor(tmp_path, "check", "--json", "--model-dir", str(bad), "--model-dir", str(broken))
    assert done.returncode == 1, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    text = " ".join(f["message"] for f in report["findings"])
    assert "bad-hf" in text and "model.safetensors" in text
    assert "consolidated.00.pth is 0 bytes" in text


@posix_only
@pytest.mark.parametrize(
    "name", ["consolidated.00.pth", "params.json", "download.sh", "checklist.chk", "tokenizer.model"]
)
def test_check_fix_and_convert_finish_when_a_file_is_a_fifo(tmp_path: Path, name: str) -> None:
    repo = tmp_path / "llama"
    model = _runnable_model(repo / "llama-2-7b")
    target = repo / name if name == "download.sh" else model / name
    target.unlink(missing_ok=True)
    os.mkfifo(target)
    check = llamadoctor(tmp_path, "check", "--json", "--repo", str(repo), "--model-dir", str(model))
    assert check.returncode in (0, 1), check.stderr
    if name != "download.sh":
        assert name in check.stdout
    fix = llamadoctor(tmp_path, "fix", "--dry-run", "--repo", str(repo), "--model-dir", str(model))
    assert fix.returncode in (0, 1), fix.stderr
    convert = llamadoctor(tmp_path, "convert", "--model-dir", str(model), "--out", str(tmp_path / "hf"))
    assert convert.returncode in (0, 1, 2), convert.stderr
    assert "Traceback" not in check.stderr + fix.stderr + convert.stderr


def _runnable_model(folder: Path) -> Path:
    """A tiny Meta folder the runner can load (a trained SentencePiece tokenizer), with its checklist.chk."""
    import hashlib

    from builders.llamas import make_model_dir

    make_model_dir(folder)
    names = sorted(p.name for p in folder.iterdir())
    lines = [f"{hashlib.md5((folder / n).read_bytes(), usedforsecurity=False).hexdigest()}  {n}\n" for n in names]
    (folder / "checklist.chk").write_text("".join(lines))
    return folder


def test_ctrl_c_in_the_main_thread_cancels_the_hashing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from llamadoctor import gather as gather_module
    from llamadoctor.probes import torch_files

    seen: list[threading.Event] = []

    def hashing(request: Any, progress: Any, cancel: threading.Event) -> tuple[None, tuple[()]]:
        seen.append(cancel)
        cancel.wait(DEADLINE)
        return None, ()

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(gather_module, "_files", hashing)
    monkeypatch.setattr(torch_files, "torch_from_files", interrupted)
    with pytest.raises(KeyboardInterrupt):
        gather_module.gather(gather_module.Request(repo=tmp_path))
    for _ in range(100):
        if seen:
            break
        time.sleep(0.01)
    assert seen and seen[0].is_set()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to see the hashing start")
def test_ctrl_c_while_hashing_exits_130_without_finishing_the_hash(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "m")
    big = model / "consolidated.01.pth"
    with big.open("wb") as f:
        f.truncate(256 * 1024**3)  # sparse: hashing it whole takes many minutes
    with (model / "checklist.chk").open("a") as f:
        f.write(f"{'0' * 32}  consolidated.01.pth\n")
    (tmp_path / "cwd").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llamadoctor", "check", "--model-dir", str(model)],
        cwd=tmp_path / "cwd",
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until_open(proc.pid, big)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=STOPPED)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err


def _wait_until_open(pid: int, path: Path) -> None:
    fds = Path(f"/proc/{pid}/fd")
    for _ in range(DEADLINE * 10):
        for fd in list(fds.glob("*")):
            try:
                if os.readlink(fd) == str(path):
                    return
            except OSError:
                pass
        time.sleep(0.1)
    pytest.fail(f"{path.name} was never opened for hashing")


def _spoil_tokenizer(folder: Path, content: bytes) -> None:
    (folder / "tokenizer.model").write_bytes(content)


def _spoil_tokenizer_json(folder: Path, content: bytes) -> None:
    (folder / "tokenizer.model").unlink()
    (folder / "tokenizer.json").write_bytes(content)


def _tokenizer_loop(folder: Path) -> None:
    (folder / "tokenizer.model").unlink()
    (folder / "tokenizer.json").symlink_to(folder / "tokenizer.json")


def _pickle_with_code(folder: Path) -> None:
    import torch

    class Evil:
        def __reduce__(self) -> tuple[object, ...]:
            return (os.system, (f"touch {folder / 'pwned'}",))

    torch.save({"tok_embeddings.weight": Evil()}, folder / "consolidated.00.pth")


@pytest.mark.parametrize(
    ("spoil", "expect"),
    [
        pytest.param(lambda f: _spoil_tokenizer(f, b"\x00garbage" * 64), "tokenizer", id="garbage-tokenizer"),
        pytest.param(lambda f: _spoil_tokenizer(f, b"IQ== 0\n%%% 1\n"), "tiktoken", id="tiktoken-bad-base64"),
        pytest.param(
            lambda f: _spoil_tokenizer_json(f, b'{"model": {"vocab": {"a": 0, "b": 0}}}'),
            "tokenizer",
            id="tokenizer-json-that-panics-tiktoken",
        ),
        pytest.param(_tokenizer_loop, "tokenizer", id="tokenizer-symlink-loop"),
        pytest.param(_pickle_with_code, "refusing to load it (it may be unsafe)", id="pickle-with-code"),
    ],
)
def test_run_text_on_a_spoiled_model_fails_with_one_line(tmp_path: Path, spoil: Any, expect: str) -> None:
    model = _runnable_model(tmp_path / "llama-2-7b")
    spoil(model)
    done = llamadoctor(
        tmp_path, "run", "text", "--model-dir", str(model), "--prompt", "hi", "--max-gen-len", "1", "--device", "cpu"
    )
    assert done.returncode == 1, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and expect in done.stderr, done.stderr
    assert "weights_only" not in done.stderr and not (model / "pwned").exists()
