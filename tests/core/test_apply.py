"""apply.py against real files: atomic writes, backups, rollback, idempotence, refusal, undo."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from llamadoctor import apply
from llamadoctor.apply import ApplyError, apply_actions, entries, undo
from llamadoctor.model import Chmod, Manual, RunCommand, WriteFile
from llamadoctor.paths import state_dir

CRLF = b"#!/bin/bash\r\nset -e\r\nread -p 'Enter the URL: ' PRESIGNED_URL\r\n"
LF = CRLF.replace(b"\r\n", b"\n")
POSIX_MODES = sys.platform != "win32"  # Windows keeps only a read-only flag


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "download.sh"
    path.write_bytes(CRLF)
    path.chmod(0o644)
    return path


def test_write_replaces_content_and_mode_and_records_a_journal_entry(script: Path) -> None:
    entry = apply_actions([WriteFile(str(script), LF, CRLF, 0o755)], fix_id="convert-crlf", check_id="c-x")
    assert script.read_bytes() == LF
    assert not POSIX_MODES or stat.S_IMODE(script.stat().st_mode) == 0o755
    assert entry is not None and [e.id for e in entries()] == [entry.id]
    assert entry.backup_path(entry.steps[0]).read_bytes() == CRLF


def test_applying_twice_changes_nothing_the_second_time(script: Path) -> None:
    action = WriteFile(str(script), LF, CRLF, 0o755)
    assert apply_actions([action], fix_id="f-x", check_id="c-x") is not None
    again = WriteFile(str(script), LF, LF, 0o755)  # re-planned from the fixed file
    assert apply_actions([again], fix_id="f-x", check_id="c-x") is None
    assert len(entries()) == 1


def test_file_changed_since_planning_is_not_overwritten(script: Path) -> None:
    action = WriteFile(str(script), LF, CRLF, 0o755)
    script.write_bytes(b"#!/bin/bash\necho edited by the user\n")
    with pytest.raises(ApplyError, match="changed since the fix was planned"):
        apply_actions([action], fix_id="f-x", check_id="c-x")
    assert script.read_bytes() == b"#!/bin/bash\necho edited by the user\n"
    assert entries() == []


def test_a_failing_step_rolls_back_the_whole_plan(script: Path, tmp_path: Path) -> None:
    other = tmp_path / "params.json"
    other.write_bytes(b'{"norm_eps": 1e-06}')
    plan = [
        WriteFile(str(script), LF, CRLF, 0o755),
        WriteFile(str(other), b'{"norm_eps": 1e-05}', b'{"norm_eps": 1e-06}'),
        RunCommand((sys.executable, "-c", "raise SystemExit(3)"), timeout=30),
    ]
    with pytest.raises(ApplyError, match="exit 3"):
        apply_actions(plan, fix_id="f-x", check_id="c-x")
    assert script.read_bytes() == CRLF
    assert not POSIX_MODES or stat.S_IMODE(script.stat().st_mode) == 0o644
    assert other.read_bytes() == b'{"norm_eps": 1e-06}'
    assert entries() == []


def test_a_created_file_is_removed_on_rollback(tmp_path: Path) -> None:
    new = tmp_path / "new.txt"
    plan = [WriteFile(str(new), b"hello", None), Chmod(str(tmp_path / "missing"), 0o755)]
    with pytest.raises(ApplyError, match="does not exist"):
        apply_actions(plan, fix_id="f-x", check_id="c-x")
    assert not new.exists()


def test_undo_restores_identical_bytes_and_mode(script: Path) -> None:
    entry = apply_actions([WriteFile(str(script), LF, CRLF, 0o755)], fix_id="f-x", check_id="c-x")
    assert entry is not None
    assert undo(entry) == [str(script)]
    assert script.read_bytes() == CRLF
    assert not POSIX_MODES or stat.S_IMODE(script.stat().st_mode) == 0o644
    assert entries()[0].undone
    with pytest.raises(ApplyError, match="already undone"):
        undo(entries()[0])


def test_undo_refuses_when_the_file_changed_after_the_fix_unless_forced(script: Path) -> None:
    entry = apply_actions([WriteFile(str(script), LF, CRLF, 0o755)], fix_id="f-x", check_id="c-x")
    assert entry is not None
    script.write_bytes(LF + b"echo more\n")
    with pytest.raises(ApplyError, match="changed after the fix"):
        undo(entry)
    undo(entry, force=True)
    assert script.read_bytes() == CRLF


@pytest.mark.skipif(not POSIX_MODES, reason="Windows has no execute bit")
def test_chmod_is_undone(script: Path) -> None:
    entry = apply_actions([Chmod(str(script), 0o755)], fix_id="f-x", check_id="c-x")
    assert entry is not None and os.access(script, os.X_OK)
    undo(entry)
    assert stat.S_IMODE(script.stat().st_mode) == 0o644


def test_manual_actions_are_never_executed(tmp_path: Path) -> None:
    assert apply_actions([Manual("run this yourself", ("rm -rf /",))], fix_id="f-x", check_id="c-x") is None


def test_a_crash_in_the_middle_of_writing_leaves_the_old_file(script: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(apply.os, "replace", broken_replace)
    with pytest.raises(ApplyError, match="No space left"):
        apply_actions([WriteFile(str(script), LF, CRLF, 0o755)], fix_id="f-x", check_id="c-x")
    assert script.read_bytes() == CRLF
    assert [p.name for p in script.parent.iterdir()] == ["download.sh"]  # no temp file left behind


# ---- keeping the file's identity -------------------------------------------------------------------------


@pytest.mark.skipif(not POSIX_MODES, reason="symlinks need privileges on Windows")
def test_a_symlinked_file_is_fixed_and_undone_through_its_link(tmp_path: Path) -> None:
    real = tmp_path / "real" / "download.sh"
    real.parent.mkdir()
    real.write_bytes(CRLF)
    link = tmp_path / "download.sh"
    link.symlink_to(real)
    entry = apply_actions([WriteFile(str(link), LF, CRLF, 0o755)], fix_id="f-x", check_id="c-x")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == LF and stat.S_IMODE(real.stat().st_mode) == 0o755
    assert entry is not None
    undo(entry)
    assert link.is_symlink() and real.read_bytes() == CRLF


@pytest.mark.skipif(not POSIX_MODES, reason="POSIX hard links")
def test_hard_links_keep_sharing_the_file_through_fix_and_undo(script: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin.sh"
    os.link(script, twin)
    entry = apply_actions([WriteFile(str(script), LF, CRLF, 0o755)], fix_id="f-x", check_id="c-x")
    assert twin.read_bytes() == LF and os.path.samefile(script, twin)
    assert entry is not None
    undo(entry)
    assert twin.read_bytes() == CRLF and os.path.samefile(script, twin)
    assert stat.S_IMODE(twin.stat().st_mode) == 0o644


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file away needs root")
def test_the_owner_is_kept_through_fix_and_undo(script: Path) -> None:
    os.chown(script, 4242, 4343)
    entry = apply_actions([WriteFile(str(script), LF, CRLF, 0o755)], fix_id="f-x", check_id="c-x")
    assert (script.stat().st_uid, script.stat().st_gid) == (4242, 4343)
    assert entry is not None
    undo(entry)
    assert (script.stat().st_uid, script.stat().st_gid) == (4242, 4343)


@pytest.mark.skipif(not POSIX_MODES, reason="Windows keeps only a read-only flag")
def test_a_read_only_file_is_refused_unless_asked(script: Path) -> None:
    script.chmod(0o444)
    with pytest.raises(ApplyError, match="read-only"):
        apply_actions([WriteFile(str(script), LF, CRLF)], fix_id="f-x", check_id="c-x")
    assert script.read_bytes() == CRLF and entries() == []
    entry = apply_actions([WriteFile(str(script), LF, CRLF)], fix_id="f-x", check_id="c-x", write_read_only=True)
    assert script.read_bytes() == LF and stat.S_IMODE(script.stat().st_mode) == 0o444
    assert entry is not None
    undo(entry)
    assert script.read_bytes() == CRLF and stat.S_IMODE(script.stat().st_mode) == 0o444


# ---- never overwriting the user's work -------------------------------------------------------------------


def _paused(marker: Path, worker: threading.Thread) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and worker.is_alive() and not marker.exists():
        time.sleep(0.01)
    return marker.exists()


@pytest.mark.parametrize("step", ["pending-recorded", "temp-written"])
def test_an_edit_made_while_the_fix_runs_is_never_overwritten(
    script: Path, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLAMADOCTOR_TEST_PAUSE_AT", step)
    failures: list[BaseException] = []

    def fix() -> None:
        try:
            apply_actions([WriteFile(str(script), LF, CRLF, 0o755)], fix_id="f-x", check_id="c-x")
        except ApplyError as exc:
            failures.append(exc)

    worker = threading.Thread(target=fix)
    worker.start()
    marker = state_dir() / f"paused-at-{step}"
    assert _paused(marker, worker), "the engine never reached " + step
    script.write_bytes(b"#!/bin/bash\necho the user's edit\n")
    marker.write_text("go on")
    worker.join(30)
    assert script.read_bytes() == b"#!/bin/bash\necho the user's edit\n"
    assert failures and "changed" in str(failures[0])
    assert entries() == [] and sorted(p.name for p in script.parent.iterdir()) == ["download.sh"]


def _unwritable_state(kind: str, tmp_path: Path) -> Path:
    if kind == "a regular file":
        (tmp_path / "state-file").write_text("not a folder")
        return tmp_path / "state-file"
    if kind == "under a regular file":
        (tmp_path / "blocker").write_text("not a folder")
        return tmp_path / "blocker" / "state"
    (tmp_path / "locked").mkdir(mode=0o500)
    return tmp_path / "locked"


@pytest.mark.parametrize("kind", ["a regular file", "under a regular file", "read-only"])
@pytest.mark.parametrize("action", ["write", "chmod"])
def test_without_a_writable_state_folder_nothing_changes(
    script: Path, tmp_path: Path, kind: str, action: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kind == "read-only" and (not POSIX_MODES or os.geteuid() == 0):
        pytest.skip("root writes into read-only folders")
    monkeypatch.setenv("LLAMADOCTOR_STATE_DIR", str(_unwritable_state(kind, tmp_path)))
    plan = WriteFile(str(script), LF, CRLF, 0o755) if action == "write" else Chmod(str(script), 0o755)
    with pytest.raises(ApplyError, match="undo record"):
        apply_actions([plan], fix_id="f-x", check_id="c-x")
    assert script.read_bytes() == CRLF
    assert not POSIX_MODES or stat.S_IMODE(script.stat().st_mode) == 0o644


# ---- undo on a damaged journal ---------------------------------------------------------------------------


def test_undo_with_a_missing_backup_restores_nothing_and_keeps_the_entry(script: Path, tmp_path: Path) -> None:
    other = tmp_path / "params.json"
    other.write_bytes(b'{"norm_eps": 1e-06}')
    plan = [
        WriteFile(str(script), LF, CRLF, 0o755),
        WriteFile(str(other), b'{"norm_eps": 1e-05}', b'{"norm_eps": 1e-06}'),
    ]
    entry = apply_actions(plan, fix_id="f-x", check_id="c-x")
    assert entry is not None
    first = apply.journal_dir() / entry.id / Path(entry.steps[0].backup or "").name
    first.unlink()
    with pytest.raises(ApplyError, match="backup"):
        undo(entry)
    assert script.read_bytes() == LF and other.read_bytes() == b'{"norm_eps": 1e-05}'
    assert not entries()[0].undone


# ---- leftovers of killed runs ----------------------------------------------------------------------------


def _dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait(timeout=60)
    return done.pid


def test_the_next_run_removes_only_its_own_leftovers_of_processes_that_are_gone(script: Path) -> None:
    entry = apply_actions([WriteFile(str(script), LF, CRLF, 0o755)], fix_id="f-x", check_id="c-x")
    assert entry is not None
    dead, alive = _dead_pid(), os.getpid()
    stale = script.parent / f".download.sh.pid{dead}.0a1b2c3d.llamadoctor-tmp"
    keep = [
        script.parent / f".download.sh.pid{alive}.0a1b2c3d.llamadoctor-tmp",  # being written right now
        script.parent / "notes.llamadoctor-tmp",
        script.parent / ".download.sh.abc.llamadoctor-tmp",
    ]
    orphan = apply.journal_dir() / f"20260101-000000-{dead}-1"
    busy = apply.journal_dir() / f"20260101-000000-{alive}-1"
    for path in [stale, *keep]:
        path.write_bytes(b"half")
    for folder in (orphan, busy, apply.journal_dir() / "someone-elses"):
        folder.mkdir()
        (folder / "backup-1").write_bytes(CRLF)
    assert apply.recover() == []
    assert not stale.exists() and all(path.exists() for path in keep)
    assert not orphan.exists() and busy.exists() and (apply.journal_dir() / "someone-elses").exists()
    assert [e.id for e in entries()] == [entry.id]
