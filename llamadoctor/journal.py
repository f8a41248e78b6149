"""The undo journal: one folder per applied plan, holding its backups and a record of every change it made.

A record is written, with the backups, before the user's file is touched ("pending"), and marked "applied"
once every change is done, so a run killed at any moment leaves a record that the next run can settle: a
change that landed becomes undoable, one that did not is forgotten. A record that cannot be read is
"damaged": listed, never undone, never deleted (its backups may be all the user has).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Optional

import psutil

from llamadoctor.durable import (
    ApplyError,
    check_can_write,
    process_gone,
    remove_stale_temps,
    sha256,
    snapshot,
    sync_folder,
    write_new,
)
from llamadoctor.i18n import N_, _, ngettext
from llamadoctor.paths import state_dir

STATES = ("pending", "applied", "undone")
RECORD = "entry.json"
_ID = re.compile(r"^\d{8}-\d{6}-(?P<pid>\d+)-\d+$")
_numbers = itertools.count(1)
_MARKS = {"undone": N_("[undone]"), "pending": N_("[being applied]"), "partly": N_("[partly undone]")}


@dataclass(frozen=True)
class Step:
    """One change to one file, with what is needed to take it back."""

    path: str  # as the plan named it: what the user is shown
    kind: str = "write"  # "write" | "chmod" | "run"
    target: str = ""  # the file really changed: a symlink's target ("" for a command)
    existed: bool = True
    mode_before: Optional[int] = None
    mode_after: Optional[int] = None
    sha256_before: Optional[str] = None
    sha256_after: str = ""
    backup: Optional[str] = None  # the file in the entry's folder holding the bytes before
    argv: tuple[str, ...] = ()
    undone: bool = False

    @property
    def file(self) -> Path:
        return Path(self.target or self.path)

    def state(self) -> str:
        """ "after" if the file is as this change left it, "before" if as it found it, else "changed"."""
        try:
            now = snapshot(self.file)
        except (OSError, ApplyError):
            return "changed"
        mode = now.permissions if now.exists else None
        if self.kind == "chmod":
            return _which(mode, self.mode_after, self.mode_before)
        # Older records have no hash of the bytes before: such a file is judged by its bytes after only.
        before = (self.sha256_before or "unknown") if self.existed else None
        if self.sha256_after == before:  # only the mode changed
            return _which(mode, self.mode_after, self.mode_before)
        return _which(sha256(now.data) if now.data is not None else None, self.sha256_after, before)


def _which(now: object, after: object, before: object) -> str:
    return "after" if now == after else "before" if now == before else "changed"


@dataclass(frozen=True)
class Entry:
    id: str
    created: float
    fix: str
    check: str
    steps: tuple[Step, ...]
    state: str = "applied"
    pid: int = 0  # the process that applied it, while pending
    pid_started: float = 0.0

    @property
    def undone(self) -> bool:
        return self.state == "undone"

    @property
    def folder(self) -> Path:
        return journal_dir() / self.id

    def backup_path(self, step: Step) -> Path:
        return self.folder / (step.backup or "")  # an absolute backup path (older records) is kept as it is

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created))
        paths = ", ".join(sorted({s.path for s in self.steps if s.path})) or _("no files")
        partly = self.state == "applied" and any(s.undone for s in self.steps)
        mark = "partly" if partly else self.state
        shown = f"  {_(_MARKS[mark])}" if mark in _MARKS else ""
        return f"{self.id}  {when}  {self.fix} ({self.check}): {paths}{shown}"


@dataclass(frozen=True)
class Damaged:
    """A journal folder whose record cannot be used."""

    id: str
    reason: str
    created: float = field(default=0.0)

    @property
    def folder(self) -> Path:
        return journal_dir() / self.id

    def describe(self) -> str:
        return _("{id}  damaged: {reason}; its backups stay in {folder}").format(
            id=self.id, reason=self.reason, folder=self.folder
        )


def journal_dir() -> Path:
    return state_dir() / "journal"


# ---- writing ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def recording() -> Iterator[None]:
    """Turns a failure to write the journal into the one-line refusal the user sees."""
    try:
        yield
    except OSError as exc:
        refused = _("cannot write the undo record in {folder} ({reason}); nothing was changed")
        raise ApplyError(refused.format(folder=journal_dir(), reason=exc.strerror or exc)) from None


class Recorder:
    """The journal entry of one plan being applied: backups first, then the record, always before the change."""

    def __init__(self, fix_id: str, check_id: str) -> None:
        pid = os.getpid()
        self.entry = Entry(_new_folder(), time.time(), fix_id, check_id, (), "pending", pid, _started(pid))

    def backup(self, data: bytes) -> str:
        name = f"backup-{next(_numbers)}"
        with recording():
            write_new(self.entry.folder / name, data)
        return name

    def pending(self, steps: Sequence[Step]) -> None:
        self.entry = replace(self.entry, steps=tuple(steps))
        with recording():
            save(self.entry)

    def applied(self, steps: Sequence[Step]) -> Entry:
        self.entry = replace(self.entry, steps=tuple(steps), state="applied", pid=0, pid_started=0.0)
        with recording():
            save(self.entry)
        return self.entry

    def forget(self) -> None:
        shutil.rmtree(self.entry.folder, ignore_errors=True)


def _new_folder() -> str:
    """A fresh entry folder; its name carries our PID, so a later run can tell an orphan from work in progress."""
    with recording():
        journal_dir().mkdir(parents=True, exist_ok=True)
        while True:
            entry_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{next(_numbers)}"
            with contextlib.suppress(FileExistsError):
                (journal_dir() / entry_id).mkdir()
                sync_folder(journal_dir())
                return entry_id


def _started(pid: int) -> float:
    with contextlib.suppress(psutil.Error, OSError):
        return float(psutil.Process(pid).create_time())
    return time.time()


def save(entry: Entry) -> None:
    write_new(entry.folder / RECORD, json.dumps(asdict(entry), indent=2).encode())


def check_writable() -> None:
    """Raise ApplyError unless undo records can be written: no change starts without its record."""
    with recording():
        check_can_write(journal_dir())


# ---- reading ---------------------------------------------------------------------------------------------

_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "path": (str,),
    "kind": (str,),
    "target": (str,),
    "existed": (bool,),
    "mode_before": (int, type(None)),
    "mode_after": (int, type(None)),
    "sha256_before": (str, type(None)),
    "sha256_after": (str,),
    "backup": (str, type(None)),
    "argv": (list,),
    "undone": (bool,),
}


def _step(data: object) -> Step:
    if not isinstance(data, dict) or "path" not in data:
        raise ValueError(_("a change without its file"))
    for name, value in data.items():
        wanted = _FIELD_TYPES.get(name)
        if wanted is None or not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
            raise ValueError(_("a change with a bad {name}").format(name=repr(name)))
    step = Step(**{**data, "argv": tuple(str(a) for a in data.get("argv", ()))})
    if step.kind not in ("write", "chmod", "run"):
        raise ValueError(_("a change of unknown kind {kind}").format(kind=repr(step.kind)))
    if step.kind == "write" and (not step.sha256_after or (step.existed and not step.backup)):
        raise ValueError(_("the change to {path} has no backup").format(path=step.path))
    if step.kind == "chmod" and step.mode_before is None:
        raise ValueError(_("the change to {path} has no mode before").format(path=step.path))
    return step


def _entry(folder: Path, data: object) -> Entry:
    if not isinstance(data, dict):
        raise ValueError(_("not a record"))
    steps = data.get("steps")
    if not isinstance(steps, list):
        raise ValueError(_("no list of changes"))
    created, state = data.get("created"), data.get("state", "undone" if data.get("undone") is True else "applied")
    if not isinstance(created, (int, float)) or state not in STATES:
        raise ValueError(_("no date or state"))
    names = {"fix": data.get("fix"), "check": data.get("check")}
    if not all(isinstance(v, str) for v in names.values()):
        raise ValueError(_("no fix or check id"))
    pid, started = data.get("pid", 0), data.get("pid_started", 0.0)
    if not isinstance(pid, int) or not isinstance(started, (int, float)):
        raise ValueError(_("a bad process id"))
    return Entry(
        folder.name,
        float(created),
        str(names["fix"]),
        str(names["check"]),
        tuple(_step(s) for s in steps),
        state,
        pid,
        float(started),
    )


def load(folder: Path) -> Entry | Damaged:
    try:
        return _entry(folder, json.loads((folder / RECORD).read_bytes()))
    except (OSError, ValueError, TypeError, RecursionError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        if isinstance(exc, json.JSONDecodeError):
            reason = _("its record is not JSON")
        return Damaged(folder.name, reason, _mtime(folder))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def read_all() -> list[Entry | Damaged]:
    """Every journal entry with a record, newest first; folders still being created are left out."""
    folder = journal_dir()
    try:
        children = [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []
    found = [load(p) for p in children if (p / RECORD).exists() or (p / RECORD).is_symlink()]
    return sorted(found, key=lambda e: (e.created, e.id), reverse=True)


# The journal is pruned: an undone fix's record after a month; any record after half a year, unless it is among
# the newest fifty (the way back from a fix is never lost to a busy week).
UNDONE_KEPT = 30 * 24 * 3600.0
ANY_KEPT = 182 * 24 * 3600.0
NEWEST_KEPT = 50


def prune(now: Optional[float] = None) -> list[str]:
    """Delete the journal records (and their backups) past their age; the ids deleted."""
    now = time.time() if now is None else now
    gone = []
    for n, entry in enumerate(e for e in read_all() if isinstance(e, Entry) and e.state != "pending"):
        age = now - entry.created
        if (entry.undone and age > UNDONE_KEPT) or (n >= NEWEST_KEPT and age > ANY_KEPT):
            shutil.rmtree(entry.folder, ignore_errors=True)
            gone.append(entry.id)
    return gone


def entries() -> list[Entry]:
    """The readable journal entries, newest first."""
    return [e for e in read_all() if isinstance(e, Entry)]


# ---- recovering from interrupted runs ---------------------------------------------------------------------


def recover() -> list[str]:
    """Settle what killed runs left behind; one line per interrupted fix, for the user.

    A pending entry whose process is gone becomes applied (keeping the changes that landed) or, if none
    landed, is forgotten. Backups of entries that never got a record, and our temp files whose creator is
    gone, are deleted. Nothing else is touched.
    """
    messages = []
    remove_stale_temps(journal_dir())
    for folder in _folders():
        owner = _ID.match(folder.name)
        if not (folder / RECORD).exists():
            if owner and process_gone(int(owner["pid"]), _mtime(folder)):
                shutil.rmtree(folder, ignore_errors=True)
            continue
        entry = load(folder)
        if isinstance(entry, Damaged):
            continue
        if not entry.undone:
            for parent in {s.file.parent for s in entry.steps if s.kind != "run"}:
                remove_stale_temps(parent)
        remove_stale_temps(folder)
        if entry.state == "pending" and process_gone(entry.pid, entry.pid_started or entry.created):
            messages.append(_settle(entry))
    return messages


def _folders() -> list[Path]:
    try:
        return sorted(p for p in journal_dir().iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []


def _settle(entry: Entry) -> str:
    landed = [s for s in entry.steps if s.kind != "run" and s.state() != "before"]
    paths = ", ".join(sorted({s.path for s in entry.steps if s.path})) or _("no files")
    commands = [" ".join(s.argv) for s in entry.steps if s.kind == "run"]
    if not landed:
        shutil.rmtree(entry.folder, ignore_errors=True)
        if commands:
            ran = _(
                "llamadoctor: an interrupted {fix} had not changed {paths} (the command `{command}` may have run); "
                "its record was removed"
            )
        else:
            ran = _("llamadoctor: an interrupted {fix} had not changed {paths}; its record was removed")
        return ran.format(fix=entry.fix, paths=paths, command=commands[0] if commands else "")
    kept = tuple(s for s in entry.steps if s in landed or s.kind == "run")
    try:
        save(replace(entry, steps=kept, state="applied", pid=0, pid_started=0.0))
    except OSError as exc:
        stuck = _("llamadoctor: an interrupted {fix} changed {paths}, but its record could not be updated ({error})")
        return stuck.format(fix=entry.fix, paths=paths, error=exc)
    settled = ngettext(
        "llamadoctor: an interrupted {fix} had changed {paths}; `llamadoctor undo {id}` puts it back",
        "llamadoctor: an interrupted {fix} had changed {paths}; `llamadoctor undo {id}` puts them back",
        len(landed),
    )
    return settled.format(fix=entry.fix, paths=paths, id=entry.id)
