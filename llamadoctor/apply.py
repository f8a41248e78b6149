"""The only code that changes the user's files: a plan applied as one transaction, and undo.

Before a file is touched, its backup and a journal record marked pending are on disk; the record is marked
applied once the whole plan is done, and if a step fails the changes already made are put back, newest first.
So a fix, even one killed halfway, is either absent or undoable (the next run settles a pending record, see
journal.py), and `undo` puts back exactly the bytes and modes that were there. Each write keeps the file's
identity and refuses if the file changed since its backup was taken (durable.py).
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import replace
from typing import Optional

from llamadoctor.durable import (
    ApplyError,
    ReadOnlyError,
    Snapshot,
    is_read_only,
    pause_point,
    real_path,
    remove_file,
    sha256,
    snapshot,
    write_new,
    write_over,
)
from llamadoctor.files import mode_text
from llamadoctor.i18n import _
from llamadoctor.journal import (
    Damaged,
    Entry,
    Recorder,
    Step,
    check_writable,
    entries,
    journal_dir,
    read_all,
    recover,
    save,
)
from llamadoctor.model import Action, Chmod, Manual, RunCommand, WriteFile
from llamadoctor.probes.proc import run

# The named steps of a fix and of an undo, where fault-injection tests stop the engine (durable.pause_point).
FIX_STEPS = ("backup-written", "pending-recorded", "temp-written", "replaced", "applied")
UNDO_STEPS = ("undo-temp-written", "undo-replaced", "undo-recorded")

__all__ = [
    "FIX_STEPS",
    "UNDO_STEPS",
    "ApplyError",
    "Damaged",
    "Entry",
    "ReadOnlyError",
    "Step",
    "apply_actions",
    "check_writable",
    "entries",
    "journal_dir",
    "read_all",
    "recover",
    "undo",
]


class Transaction:
    """Applies one plan's actions, each recorded in the journal before it is carried out."""

    def __init__(self, fix_id: str, check_id: str, *, write_read_only: bool) -> None:
        self.fix_id, self.check_id, self.write_read_only = fix_id, check_id, write_read_only
        self.steps: list[Step] = []
        self.landed: list[Step] = []  # the changes known to have been made (a refused write leaves no trace)
        self._recorder: Optional[Recorder] = None

    @property
    def recorder(self) -> Recorder:
        if self._recorder is None:
            self._recorder = Recorder(self.fix_id, self.check_id)
        return self._recorder

    def do(self, action: Action) -> None:
        if isinstance(action, WriteFile):
            self.write(action)
        elif isinstance(action, Chmod):
            self.chmod(action)
        elif isinstance(action, RunCommand):
            self.run(action)
        elif not isinstance(action, Manual):
            raise ApplyError(f"unknown action {action!r}")

    def _record(self, step: Step) -> None:
        self.recorder.pending([*self.steps, step])
        pause_point("pending-recorded")
        self.steps.append(step)

    def write(self, action: WriteFile) -> None:
        seen = snapshot(real_path(action.path))
        if seen.data != action.before:
            raise ApplyError(_("{path} changed since the fix was planned; not overwriting it").format(path=action.path))
        mode = stat.S_IMODE(action.mode) if action.mode is not None else seen.permissions if seen.exists else 0o644
        if seen.data == action.after and seen.permissions == mode:
            return  # already as wanted: applying twice changes nothing
        if is_read_only(seen) and not self.write_read_only:
            refused = _("{path} is read-only ({mode}); not changing it")
            raise ReadOnlyError(refused.format(path=action.path, mode=mode_text(seen.mode)))
        backup = None
        if seen.data is not None:
            backup = self.recorder.backup(seen.data)
            pause_point("backup-written")
        self._record(
            Step(
                action.path,
                "write",
                target=str(seen.path),
                existed=seen.exists,
                mode_before=seen.permissions if seen.exists else None,
                mode_after=mode,
                sha256_before=sha256(seen.data) if seen.data is not None else None,
                sha256_after=sha256(action.after),
                backup=backup,
            )
        )
        write_over(seen, action.after, mode)
        self.landed.append(self.steps[-1])
        pause_point("replaced")

    def chmod(self, action: Chmod) -> None:
        target = real_path(action.path)
        try:
            before = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            raise ApplyError(_("{path} does not exist").format(path=action.path)) from None
        if before == stat.S_IMODE(action.mode):
            return
        self._record(
            Step(action.path, "chmod", target=str(target), mode_before=before, mode_after=stat.S_IMODE(action.mode))
        )
        os.chmod(target, stat.S_IMODE(action.mode))
        self.landed.append(self.steps[-1])
        pause_point("replaced")

    def run(self, action: RunCommand) -> None:
        self._record(Step("", "run", argv=tuple(action.argv)))
        command = " ".join(action.argv)
        try:
            done = run(action.argv, action.timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ApplyError(_("{command} could not run: {error}").format(command=command, error=exc)) from None
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or [""])[-1]
            failed = _("{command} failed (exit {code}): {tail}")
            raise ApplyError(failed.format(command=command, code=done.returncode, tail=tail))

    def commit(self) -> Optional[Entry]:
        if not self.steps:
            if self._recorder is not None:
                self._recorder.forget()
            return None
        entry = self.recorder.applied(self.steps)
        pause_point("applied")
        return entry

    def rollback(self) -> str:
        """Put back every change that landed, newest first. Returns "" or a clause saying what could not be
        put back."""
        if self._recorder is None:
            return ""
        left = []
        for step in reversed(self.steps):
            try:
                state = step.state() if step.kind != "run" else "before"
                if state == "after":
                    _put_back(self.recorder.entry, step, snapshot(step.file), "rollback-")
                elif state == "changed" and step in self.landed:
                    left.append(step)  # edited by someone since: only a forced undo may overwrite that
            except (OSError, ApplyError):
                left.append(step)
        if not left:
            self.recorder.forget()
            return ""
        paths = ", ".join(sorted({s.path for s in left}))
        try:
            entry = self.recorder.applied(list(reversed(left)))
        except ApplyError:
            left_in = _("{paths} could not be put back: its backup is in {folder}")
            return left_in.format(paths=paths, folder=self.recorder.entry.folder)
        return _("{paths} could not be put back: `llamadoctor undo --force {id}` restores it").format(
            paths=paths, id=entry.id
        )


def apply_actions(
    actions: Sequence[Action], *, fix_id: str, check_id: str, write_read_only: bool = False
) -> Optional[Entry]:
    """Apply a plan's actions as one transaction. Returns its journal entry, or None if nothing changed.

    Read-only files are refused (ReadOnlyError) unless `write_read_only`.
    """
    txn = Transaction(fix_id, check_id, write_read_only=write_read_only)
    try:
        for action in actions:
            txn.do(action)
        return txn.commit()
    except BaseException as exc:
        left = txn.rollback()
        if not isinstance(exc, Exception):
            raise
        if isinstance(exc, ApplyError) and not left:
            raise
        detail = str(exc) if isinstance(exc, ApplyError) else f"{type(exc).__name__}: {exc}"
        # TRANSLATORS: {error} is what went wrong; {outcome} says what was put back, as a clause of its own.
        outcome = _("{error}; {outcome}").format(error=detail, outcome=left or _("nothing was changed"))
        raise ApplyError(outcome) from exc


# ---- undo ------------------------------------------------------------------------------------------------


def undo(entry: Entry, *, force: bool = False) -> list[str]:
    """Put back what `entry` changed, newest change first; returns the paths restored.

    Before anything is restored, refuses (ApplyError) if a backup is missing or damaged, or if a file changed
    after the fix (unless `force`: the changed version is then kept beside the backups). Each change is marked
    undone in the journal as soon as it is put back; the entry is undone when all of them are.
    """
    if entry.undone:
        raise ApplyError(_("{id} was already undone").format(id=entry.id))
    if entry.state == "pending":
        busy = _("{id} is still being applied (by process {pid}); try again when it is done")
        raise ApplyError(busy.format(id=entry.id, pid=entry.pid))
    todo = [
        (step, _restore_plan(entry, step, force))
        for step in reversed(entry.steps)
        if step.kind != "run" and not step.undone
    ]
    restored = []
    for step, plan in todo:
        kept = ""
        if plan is not None:
            seen, data = plan
            kept = _keep_changed_version(entry, step, seen) if force else ""
            _put_back(entry, step, seen, "undo-", data)
            pause_point("undo-replaced")
        entry = _mark_undone(entry, step)
        shown = _("{path} (the version it replaced is kept in {kept})") if kept else "{path}"
        restored.append(shown.format(path=step.path, kept=kept))
    _record_undo(replace(entry, state="undone"))
    pause_point("undo-recorded")
    return restored


def _restore_plan(entry: Entry, step: Step, force: bool) -> Optional[tuple[Snapshot, Optional[bytes]]]:
    """What putting `step` back needs (the file as it is now, the backup's bytes); None if it is back already."""
    state = step.state()
    if state == "before":
        return None
    if state == "changed" and not force:
        changed = _("{path} changed after the fix; not overwriting it (use --force to undo anyway)")
        raise ApplyError(changed.format(path=step.path))
    data = _backup_bytes(entry, step) if step.kind == "write" and step.existed else None
    try:
        return snapshot(step.file), data
    except OSError as exc:
        unreadable = _("{path} cannot be read ({reason}); nothing was restored")
        raise ApplyError(unreadable.format(path=step.path, reason=exc.strerror or exc)) from None


def _backup_bytes(entry: Entry, step: Step) -> bytes:
    path = entry.backup_path(step)
    try:
        data = path.read_bytes()
    except OSError:
        missing = _("the backup of {path} is missing ({backup}); nothing was restored")
        raise ApplyError(missing.format(path=step.path, backup=path)) from None
    if step.sha256_before and sha256(data) != step.sha256_before:
        damaged = _("the backup of {path} is damaged ({backup}); nothing was restored")
        raise ApplyError(damaged.format(path=step.path, backup=path))
    return data


def _put_back(entry: Entry, step: Step, seen: Snapshot, pause_prefix: str, data: Optional[bytes] = None) -> None:
    if step.kind == "chmod":
        os.chmod(step.file, step.mode_before if step.mode_before is not None else seen.permissions)
    elif not step.existed:
        remove_file(seen)
    else:
        data = _backup_bytes(entry, step) if data is None else data
        mode = step.mode_before if step.mode_before is not None else seen.permissions
        write_over(seen, data, mode, pause_prefix=pause_prefix)


def _keep_changed_version(entry: Entry, step: Step, seen: Snapshot) -> str:
    """Before a forced undo overwrites a file changed since the fix, save that version beside the backups;
    where it was saved, or "" when there was nothing to save."""
    if seen.data is None or step.state() != "changed":
        return ""
    kept = entry.folder / f"changed-{entry.steps.index(step)}"
    try:
        write_new(kept, seen.data)
    except OSError as exc:
        refused = _("cannot keep the changed {path} in {kept} ({reason}); nothing was restored")
        raise ApplyError(refused.format(path=step.path, kept=kept, reason=exc.strerror or exc)) from None
    return str(kept)


def _mark_undone(entry: Entry, step: Step) -> Entry:
    index = entry.steps.index(step)
    steps = (*entry.steps[:index], replace(step, undone=True), *entry.steps[index + 1 :])
    return _record_undo(replace(entry, steps=steps), step.path)


def _record_undo(entry: Entry, restored: str = "") -> Entry:
    try:
        save(entry)
    except OSError as exc:
        if restored:
            unrecorded = _(
                "restored {path}, but could not record the undo in {folder} ({reason}); "
                "running `llamadoctor undo` again finishes it"
            )
        else:
            unrecorded = _(
                "could not record the undo in {folder} ({reason}); running `llamadoctor undo` again finishes it"
            )
        raise ApplyError(unrecorded.format(path=restored, folder=journal_dir(), reason=exc.strerror or exc)) from None
    return entry
