"""Changing one file without ever losing it: what it was, how to write it so that it stays the same file, and
the temp files a killed run leaves behind.

A file is changed only against a Snapshot taken when its backup was made: right before the new bytes land, the
file must still be that version (same inode, size, mtime and bytes), or the change is refused. A change keeps
what makes the file the user's: a symlink stays a symlink (its target is written), the owner, group and mode
stay, and a file with other hard links is rewritten in place so every link still sees it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import psutil

from llamadoctor.i18n import _
from llamadoctor.paths import state_dir

TEMP_SUFFIX = ".llamadoctor-tmp"
# Our temp files carry their creator's PID, so a later run can tell a leftover from a file being written now.
_TEMP_NAME = re.compile(r"^\..+\.pid(?P<pid>\d+)\.[0-9a-f]+" + re.escape(TEMP_SUFFIX) + "$")
_BINARY = getattr(os, "O_BINARY", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class ApplyError(Exception):
    """A change was refused or failed; whatever it had done was put back."""


class ReadOnlyError(ApplyError):
    """The file is read-only: the user has to ask for it to be rewritten."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """One version of a file: its bytes and what tells this version from a later one."""

    path: Path  # the real file, symlinks resolved
    data: Optional[bytes]  # None: there is no such file
    dev: int = 0
    ino: int = 0
    size: int = 0
    mtime_ns: int = 0
    mode: int = 0
    uid: int = -1
    gid: int = -1
    nlink: int = 1

    @property
    def exists(self) -> bool:
        return self.data is not None

    @property
    def permissions(self) -> int:
        return stat.S_IMODE(self.mode)

    def same_version(self, other: Snapshot) -> bool:
        identity = (self.dev, self.ino, self.size, self.mtime_ns)
        return identity == (other.dev, other.ino, other.size, other.mtime_ns) and self.data == other.data


def real_path(path: str) -> Path:
    """Where a change to `path` goes: a symlink's final target, so the link stays as the user made it."""
    return Path(os.path.realpath(path))


def snapshot(target: Path) -> Snapshot:
    """`target` as it is now. Opens nothing but a regular file (a FIFO would block forever)."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return Snapshot(target, None)
    if not stat.S_ISREG(st.st_mode):
        raise ApplyError(_("{path} is not a regular file; not touching it").format(path=target))
    fd = os.open(target, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | _NOFOLLOW | _BINARY)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ApplyError(_("{path} is not a regular file; not touching it").format(path=target))
        with open(fd, "rb", closefd=False) as f:
            data = f.read()
    finally:
        os.close(fd)
    return Snapshot(
        target, data, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode, st.st_uid, st.st_gid, st.st_nlink
    )


def ensure_unchanged(seen: Snapshot) -> None:
    """Refuse if the file is no longer the version `seen`: someone edited it since its backup was taken."""
    if not seen.same_version(snapshot(seen.path)):
        raise ApplyError(_("{path} changed while it was being fixed; not overwriting it").format(path=seen.path))


def is_read_only(seen: Snapshot) -> bool:
    return seen.exists and not seen.mode & stat.S_IWUSR


def _owner_kept_by_replacing(seen: Snapshot) -> bool:
    """Whether a new file put in place of `seen` can be given its owner and group (else: write in place)."""
    if not seen.exists or not hasattr(os, "geteuid"):
        return True
    if os.geteuid() == 0:
        return True
    return seen.uid == os.geteuid() and (seen.gid == os.getegid() or seen.gid in os.getgroups())


def write_over(seen: Snapshot, data: bytes, mode: int, *, pause_prefix: str = "") -> None:
    """Give the file `seen` the bytes `data` and permission bits `mode`, keeping its owner, links and place.

    Atomic (a temp file, then os.replace) unless the file has other hard links or an owner this process cannot
    give a new file: then it is rewritten in place, after the caller has saved a backup.
    """
    if seen.exists and (seen.nlink > 1 or not _owner_kept_by_replacing(seen)):
        _write_in_place(seen, data, mode)
    else:
        _write_replacing(seen, data, mode, pause_prefix)


def _write_replacing(seen: Snapshot, data: bytes, mode: int, pause_prefix: str) -> None:
    fd, tmp = _create_temp(seen.path)
    try:
        with open(fd, "wb") as f:
            f.write(data)
            f.flush()
            made = os.fstat(f.fileno())
            if seen.exists and hasattr(os, "fchown") and (made.st_uid, made.st_gid) != (seen.uid, seen.gid):
                os.fchown(f.fileno(), seen.uid, seen.gid)  # before the mode: chown clears set-id bits
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        pause_point(pause_prefix + "temp-written")
        ensure_unchanged(seen)
        os.replace(tmp, seen.path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    sync_folder(seen.path.parent)


def _write_in_place(seen: Snapshot, data: bytes, mode: int) -> None:
    ensure_unchanged(seen)
    with open(os.open(seen.path, os.O_WRONLY | _NOFOLLOW | _BINARY), "wb") as f:
        f.write(data)
        f.truncate(len(data))
        f.flush()
        os.fsync(f.fileno())
    if mode != seen.permissions:
        os.chmod(seen.path, mode)


def write_new(path: Path, data: bytes) -> None:
    """Write one of our own files (a backup, a journal record) atomically and durably."""
    fd, tmp = _create_temp(path)
    try:
        with open(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    sync_folder(path.parent)


def check_can_write(folder: Path) -> None:
    """Raise OSError unless a file can be created, written, synced and deleted in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, probe = _create_temp(folder / "probe")
    try:
        os.write(fd, b"x")
        os.fsync(fd)
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(probe)


def remove_file(seen: Snapshot) -> None:
    """Delete the file `seen`, unless it changed since."""
    ensure_unchanged(seen)
    seen.path.unlink()
    sync_folder(seen.path.parent)


def _create_temp(beside: Path) -> tuple[int, Path]:
    while True:
        tmp = beside.parent / f".{beside.name}.pid{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o600), tmp
        except FileExistsError:
            continue


def sync_folder(folder: Path) -> None:
    """Make a rename in `folder` survive a power cut (POSIX; Windows has no handle on folders for this)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def process_gone(pid: int, not_after: float) -> bool:
    """Whether process `pid`, which was running at time `not_after`, has ended (its number may be reused since)."""
    if pid == os.getpid():
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
        return bool(proc.create_time() > not_after + 1.0)
    except psutil.NoSuchProcess:
        return True
    except (psutil.Error, OSError):
        return False  # can't tell: leave its files alone


def remove_stale_temps(folder: Path) -> None:
    """Delete our own temp files in `folder` whose creating process is gone. Touches no other file."""
    with contextlib.suppress(OSError), os.scandir(folder) as found:
        for item in found:
            match = _TEMP_NAME.match(item.name)
            if not match or not item.is_file(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError):
                if process_gone(int(match["pid"]), item.stat(follow_symlinks=False).st_mtime):
                    os.unlink(item.path)


def pause_point(step: str) -> None:
    """Exists only for fault-injection tests: stop at `step` so that a test can kill this process there.

    With LLAMADOCTOR_TEST_PAUSE_AT=<step>, the engine writes "paused" to <state folder>/paused-at-<step> when it
    reaches that step and waits (two minutes at most) until the test kills it, or writes something else there
    (after editing the user's file, say) to let it go on. It pauses only if that marker does not exist yet.
    """
    marker = state_dir() / f"paused-at-{step}"
    if os.environ.get("LLAMADOCTOR_TEST_PAUSE_AT") != step or marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("paused")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if marker.read_text() != "paused":
                return
        time.sleep(0.01)
