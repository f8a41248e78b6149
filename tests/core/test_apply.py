"""apply.py against real files: atomic writes, backups, rollback, idempotence, refusal, undo."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from llamadoctor import apply
from llamadoctor.apply import ApplyError, apply_actions, entries, undo
from llamadoctor.model import Chmod, Manual, RunCommand, WriteFile

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
    assert Path(entry.steps[0].backup or "").read_bytes() == CRLF


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
