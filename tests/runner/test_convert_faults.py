"""`llamadoctor convert` killed (SIGKILL) or interrupted (Ctrl-C) at each phase: the source is untouched, the
previous output is never lost, and after the next run the user has either the previous output or the new one.

The conversion runs as a subprocess paused at a named phase through its fault-injection hook
(LLAMADOCTOR_TEST_PAUSE_AT), then is signalled there."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llamadoctor.runner.conversion import convert
from llamadoctor.runner.conversion import output as place

from builders import llamas

PHASES = ["planning", "streaming", "finishing", "swapping", "cleaning"]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faults")
    return llamas.make_model_dir(root / "llama-2-tiny", family="llama2", shards=2)


def _paused(src: Path, out: Path, phase: str, state: Path) -> subprocess.Popen[bytes]:
    """`convert --force --dtype fp16` (unlike the previous output) stopped at `phase`."""
    env = {**os.environ, "LLAMADOCTOR_TEST_PAUSE_AT": phase, "LLAMADOCTOR_STATE_DIR": str(state)}
    flag = state / f"paused-at-{phase}"
    cmd = [sys.executable, "-m", "llamadoctor", "convert", "--model-dir", str(src), "--out", str(out), "--force",
           "--dtype", "fp16"]  # fmt: skip
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not flag.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not flag.exists():
        child.kill()
        raise AssertionError(f"never reached {phase}: {child.communicate(timeout=30)[1].decode()}")
    return child


def _hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def _dtype(out: Path) -> str:
    return json.loads((out / "config.json").read_text())["torch_dtype"]


@pytest.mark.parametrize("phase", PHASES)
def test_killed_at_each_phase_loses_nothing(src: Path, tmp_path: Path, phase: str) -> None:
    source = _tree(src)
    out = tmp_path / "hf"
    convert.convert(convert.Request(src, out))
    previous = _tree(out)
    child = _paused(src, out, phase, tmp_path / "state")
    child.kill()
    assert child.wait(timeout=30) == -signal.SIGKILL
    assert _tree(src) == source
    olds = [tmp_path / name for name in _hidden(tmp_path) if ".old-" in name]
    kept = [_tree(p) for p in [out, *olds] if p.is_dir()]
    assert previous in kept, "the previous output is gone"
    for partial in (p for p in tmp_path.iterdir() if ".partial-" in p.name):
        assert phase in ("swapping", "cleaning") or not place.is_complete(partial), "a partial looks complete"

    with pytest.raises(convert.BadInput, match="already exists"):  # the next run settles what was left first
        convert.convert(convert.Request(src, out))
    if phase == "cleaning":
        assert _dtype(out) == "float16"  # the new output had arrived: it stays
    else:
        assert _tree(out) == previous  # it had not: the previous one is back, as it was
    assert _hidden(tmp_path) == []

    convert.convert(convert.Request(src, out, dtype="fp16", force=True))
    assert _dtype(out) == "float16" and place.is_complete(out)
    assert _hidden(tmp_path) == [] and _tree(src) == source


@pytest.mark.parametrize("phase", PHASES)
def test_ctrl_c_at_each_phase_exits_130_and_leaves_the_previous_output(src: Path, tmp_path: Path, phase) -> None:
    source = _tree(src)
    out = tmp_path / "hf"
    convert.convert(convert.Request(src, out))
    previous = _tree(out)
    child = _paused(src, out, phase, tmp_path / "state")
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 130, stderr.decode()
    assert "Traceback" not in stderr.decode() and stderr.decode().splitlines()[-1].startswith("interrupted")
    assert _tree(src) == source
    if phase == "cleaning":  # interrupted after the new output was in place: it stays
        assert _dtype(out) == "float16"
    else:
        assert _tree(out) == previous
    assert _hidden(tmp_path) == []
