"""The only code that changes the user's files: backups, atomic writes, rollback, a journal, and undo.

A plan is applied as a transaction: every write first checks that the file still holds the bytes the plan
was made from, saves a backup, and replaces the file atomically (temp file + os.replace). If any step fails,
the steps already done are rolled back in reverse. A successful plan leaves a journal entry that `undo` uses
to put back exactly the bytes and modes that were there before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from llamadoctor.model import Action, Chmod, Manual, RunCommand, WriteFile
from llamadoctor.paths import state_dir
from llamadoctor.probes.proc import run


class ApplyError(Exception):
    """A plan could not be applied; everything it had done was rolled back."""


@dataclass
class Step:
    """One change made, with what is needed to take it back."""

    path: str
    existed: bool
    mode_before: Optional[int]
    backup: Optional[str]  # copy of the old bytes
    sha256_after: str  # what we left there: undo refuses if the file changed since
    kind: str = "write"  # "write" | "chmod" | "run"
    argv: list[str] = field(default_factory=list)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path) -> Optional[bytes]:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def write_atomic(path: Path, data: bytes, mode: Optional[int] = None) -> None:
    """Replace path's content in one step: readers see the old file or the new one, never half of it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".llamadoctor-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, stat.S_IMODE(mode))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _mode(path: Path) -> Optional[int]:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None


class Transaction:
    """Applies actions one by one; rolls all of them back if one fails."""

    def __init__(self, entry_dir: Path) -> None:
        self.entry_dir = entry_dir
        self.steps: list[Step] = []

    def _backup(self, data: bytes) -> str:
        self.entry_dir.mkdir(parents=True, exist_ok=True)
        path = self.entry_dir / f"backup-{len(self.steps)}"
        write_atomic(path, data)
        return str(path)

    def write(self, action: WriteFile) -> None:
        path = Path(action.path)
        current = _read(path)
        if current != action.before:
            raise ApplyError(f"{path} changed since the fix was planned; not overwriting it")
        mode_before = _mode(path)
        mode_after = action.mode if action.mode is not None else mode_before
        if current == action.after and mode_before == mode_after:
            return  # already as wanted: applying twice changes nothing
        backup = self._backup(current) if current is not None else None
        write_atomic(path, action.after, mode_after if mode_after is not None else 0o644)
        self.steps.append(Step(str(path), current is not None, mode_before, backup, sha256(action.after)))

    def chmod(self, action: Chmod) -> None:
        path = Path(action.path)
        mode_before = _mode(path)
        if mode_before is None:
            raise ApplyError(f"{path} does not exist")
        if mode_before == stat.S_IMODE(action.mode):
            return
        os.chmod(path, stat.S_IMODE(action.mode))
        self.steps.append(Step(str(path), True, mode_before, None, sha256(path.read_bytes()), "chmod"))

    def run(self, action: RunCommand) -> None:
        try:
            done = run(action.argv, action.timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ApplyError(f"{' '.join(action.argv)} could not run: {exc}") from None
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or [""])[-1]
            raise ApplyError(f"{' '.join(action.argv)} failed (exit {done.returncode}): {tail}")
        self.steps.append(Step("", False, None, None, "", "run", list(action.argv)))

    def rollback(self) -> None:
        for step in reversed(self.steps):
            _restore(step)
        self.steps.clear()


def _restore(step: Step) -> None:
    path = Path(step.path)
    if step.kind == "run":
        return  # commands are not undoable; the journal shows what ran
    if step.kind == "chmod":
        if step.mode_before is not None:
            os.chmod(path, step.mode_before)
        return
    if not step.existed:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    assert step.backup is not None
    write_atomic(path, Path(step.backup).read_bytes(), step.mode_before)


@dataclass(frozen=True)
class Entry:
    id: str
    created: float
    fix: str
    check: str
    steps: tuple[Step, ...]
    undone: bool = False

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created))
        paths = ", ".join(sorted({s.path for s in self.steps if s.path})) or "no files"
        return f"{self.id}  {when}  {self.fix} ({self.check}): {paths}{'  [undone]' if self.undone else ''}"


def journal_dir() -> Path:
    return state_dir() / "journal"


def _new_entry_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid() % 10000:04d}{int(time.time() * 1e6) % 1000:03d}"


def apply_actions(actions: Sequence[Action], *, fix_id: str, check_id: str) -> Optional[Entry]:
    """Apply a plan's actions as one transaction. Returns its journal entry, or None if nothing changed."""
    entry_id = _new_entry_id()
    entry_dir = journal_dir() / entry_id
    txn = Transaction(entry_dir)
    try:
        for action in actions:
            if isinstance(action, WriteFile):
                txn.write(action)
            elif isinstance(action, Chmod):
                txn.chmod(action)
            elif isinstance(action, RunCommand):
                txn.run(action)
            elif not isinstance(action, Manual):
                raise ApplyError(f"unknown action {action!r}")
    except BaseException as exc:
        txn.rollback()
        if isinstance(exc, (ApplyError, KeyboardInterrupt)):
            raise
        raise ApplyError(f"{type(exc).__name__}: {exc}; nothing was changed") from exc
    if not txn.steps:
        return None
    entry = Entry(entry_id, time.time(), fix_id, check_id, tuple(txn.steps))
    _save(entry)
    return entry


def _save(entry: Entry) -> None:
    folder = journal_dir() / entry.id
    folder.mkdir(parents=True, exist_ok=True)
    data = asdict(entry)
    write_atomic(folder / "entry.json", json.dumps(data, indent=2).encode())


def _load(folder: Path) -> Optional[Entry]:
    try:
        data: dict[str, Any] = json.loads((folder / "entry.json").read_text(encoding="utf-8"))
        steps = tuple(Step(**s) for s in data.pop("steps"))
        return Entry(steps=steps, **data)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def entries() -> list[Entry]:
    """Journal entries, newest first."""
    folder = journal_dir()
    if not folder.is_dir():
        return []
    found = [e for e in (_load(p) for p in folder.iterdir() if p.is_dir()) if e is not None]
    return sorted(found, key=lambda e: (e.created, e.id), reverse=True)


def undo(entry: Entry, *, force: bool = False) -> list[str]:
    """Put back what `entry` changed. Refuses (ApplyError) if a file changed since, unless force."""
    if entry.undone:
        raise ApplyError(f"{entry.id} was already undone")
    for step in entry.steps:
        if step.kind == "run" or force:
            continue
        current = _read(Path(step.path))
        if current is None or sha256(current) != step.sha256_after:
            raise ApplyError(f"{step.path} changed after the fix; not overwriting it (use --force to undo anyway)")
    restored = []
    for step in reversed(entry.steps):
        _restore(step)
        if step.path:
            restored.append(step.path)
    _save(Entry(entry.id, entry.created, entry.fix, entry.check, entry.steps, undone=True))
    return restored

