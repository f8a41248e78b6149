"""`fix` and `undo` killed or interrupted at every step: the user's file is the original or the fixed one, never
anything else, and `undo` (or the next run) puts the original back exactly, bytes and mode.

The engine pauses at a named step when LLAMADOCTOR_TEST_PAUSE_AT says so (it writes a marker file in the state
folder and waits); these tests kill it there with SIGKILL, as a power cut or `kill -9` would.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamadoctor.apply import FIX_STEPS, UNDO_STEPS
from llamadoctor.cli import app

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and ptys are POSIX")

CRLF_SCRIPT = (
    b"#!/usr/bin/env bash\r\n# Copyright (c) Meta Platforms, Inc.\r\nset -e\r\n"
    b'read -p "Enter the URL from email: " PRESIGNED_URL\r\necho ""\r\n'
)
LF_SCRIPT = CRLF_SCRIPT.replace(b"\r\n", b"\n")
runner = CliRunner()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "download.sh").write_bytes(CRLF_SCRIPT)
    (folder / "download.sh").chmod(0o644)
    return folder


def spawn(args: list[str], repo: Path, state: Path, pause_at: str = "", **kwargs: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LLAMADOCTOR_STATE_DIR": str(state), "LLAMADOCTOR_TEST_PAUSE_AT": pause_at}
    return subprocess.Popen(
        [sys.executable, "-m", "llamadoctor", *args],
        cwd=repo,
        env=env,  # type: ignore[call-overload]
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def kill_at(step: str, args: list[str], repo: Path, state: Path) -> None:
    """Run llamadoctor until it pauses at `step`, then SIGKILL it."""
    proc = spawn(args, repo, state, step)
    marker = state / f"paused-at-{step}"
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.kill()
    out, err = proc.communicate(timeout=60)
    assert marker.exists(), f"never paused at {step}: {out.decode()} {err.decode()}"


def assert_original_or_fixed(script: Path) -> None:
    assert sha(script.read_bytes()) in (sha(CRLF_SCRIPT), sha(LF_SCRIPT))


def assert_original_and_clean(repo: Path, state: Path) -> None:
    script = repo / "download.sh"
    assert sha(script.read_bytes()) == sha(CRLF_SCRIPT)
    assert stat.S_IMODE(script.stat().st_mode) == 0o644
    assert sorted(p.name for p in repo.iterdir()) == ["download.sh"]  # no temp file left in the user's folder
    for entry in (state / "journal").iterdir():  # no orphan: every folder left is a complete entry
        assert (entry / "entry.json").is_file(), sorted(p.name for p in entry.iterdir())
        assert not list(entry.glob("*.llamadoctor-tmp"))


def test_the_steps_cover_the_whole_fix() -> None:
    assert {"backup-written", "pending-recorded", "temp-written", "replaced", "applied"} <= set(FIX_STEPS)
    assert UNDO_STEPS


@pytest.mark.parametrize("step", FIX_STEPS)
@pytest.mark.parametrize("then", ["undo", "fix again, then undo"], ids=["then-undo", "then-fix-and-undo"])
def test_a_fix_killed_at_any_step_is_recovered_and_undone_exactly(
    step: str, then: str, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("LLAMADOCTOR_STATE_DIR", str(state))
    kill_at(step, ["fix", "--yes", "--repo", str(repo)], repo, state)
    script = repo / "download.sh"
    assert_original_or_fixed(script)
    was_fixed = script.read_bytes() == LF_SCRIPT
    if then != "undo":
        again = runner.invoke(app, ["fix", "download-script-crlf", "--yes", "--repo", str(repo)])
        assert again.exit_code == 0, again.output
        assert script.read_bytes() == LF_SCRIPT
        was_fixed = True
    undone = runner.invoke(app, ["undo"])
    if was_fixed:
        assert undone.exit_code == 0 and f"restored {script}" in undone.stdout, undone.output
    else:
        assert undone.exit_code == 2 and "no applied fix" in undone.stderr, undone.output
    assert_original_and_clean(repo, state)


@pytest.mark.parametrize("step", FIX_STEPS)
@pytest.mark.parametrize("layout", ["symlink", "hard link"])
def test_a_linked_script_killed_at_any_step_keeps_its_links(
    step: str, layout: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, repo, elsewhere = tmp_path / "state", tmp_path / "repo", tmp_path / "elsewhere"
    monkeypatch.setenv("LLAMADOCTOR_STATE_DIR", str(state))
    repo.mkdir()
    elsewhere.mkdir()
    real = elsewhere / "download.sh"
    real.write_bytes(CRLF_SCRIPT)
    real.chmod(0o644)
    if layout == "symlink":
        (repo / "download.sh").symlink_to(real)
    else:
        os.link(real, repo / "download.sh")
    if layout == "hard link" and step == "temp-written":
        pytest.skip("a file with other links is rewritten in place: there is no temp file")
    kill_at(step, ["fix", "--yes", "--repo", str(repo)], repo, state)
    assert_original_or_fixed(real)
    runner.invoke(app, ["undo"])
    assert sha(real.read_bytes()) == sha(CRLF_SCRIPT) and stat.S_IMODE(real.stat().st_mode) == 0o644
    assert (repo / "download.sh").is_symlink() if layout == "symlink" else os.path.samefile(real, repo / "download.sh")
    assert sorted(p.name for p in [*repo.iterdir(), *elsewhere.iterdir()]) == ["download.sh", "download.sh"]


@pytest.mark.parametrize("step", UNDO_STEPS)
def test_an_undo_killed_at_any_step_is_finished_by_the_next_undo(
    step: str, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("LLAMADOCTOR_STATE_DIR", str(state))
    assert runner.invoke(app, ["fix", "download-script-crlf", "--yes", "--repo", str(repo)]).exit_code == 0
    kill_at(step, ["undo"], repo, state)
    assert_original_or_fixed(repo / "download.sh")
    again = runner.invoke(app, ["undo"])
    assert again.exit_code in (0, 2) and "Traceback" not in again.output, again.output
    assert_original_and_clean(repo, state)


def test_the_next_run_reports_what_it_recovered(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("LLAMADOCTOR_STATE_DIR", str(state))
    kill_at("replaced", ["fix", "--yes", "--repo", str(repo)], repo, state)
    listed = runner.invoke(app, ["undo", "--list"])
    recovered = [line for line in listed.stdout.splitlines() if "interrupted" in line]
    assert len(recovered) == 1 and "download.sh" in recovered[0] and "undo" in recovered[0]
    assert "download.sh" in listed.stdout.split(recovered[0])[1]  # and the entry is listed as applied


def test_ctrl_c_at_the_confirmation_prompt_is_exit_130(repo: Path, tmp_path: Path) -> None:
    import pty

    primary, secondary = pty.openpty()
    try:
        proc = spawn(["fix", "--repo", str(repo)], repo, tmp_path / "state", stdin=secondary)
        assert proc.stdout is not None
        seen = b""
        deadline = time.monotonic() + 120
        while b"Apply the fixes above?" not in seen and proc.poll() is None and time.monotonic() < deadline:
            seen += os.read(proc.stdout.fileno(), 4096)
        for _ in range(20):  # a signal that lands just before the read starts waits for input: press Ctrl-C again
            proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=3)
                break
        _, err = proc.communicate(timeout=60)
    finally:
        os.close(primary)
        os.close(secondary)
    assert b"Apply the fixes above?" in seen
    assert proc.returncode == 130 and b"interrupted" in err and b"Traceback" not in err
    assert (repo / "download.sh").read_bytes() == CRLF_SCRIPT
