"""Where `llamadoctor convert` writes, and the promise that nothing the user had is lost there.

A conversion is written into a hidden sibling `.NAME.partial-PID`, marked as ours (`.llamadoctor-convert.json`,
written last, so a marked folder is a complete one), fsynced, and only then swapped in: NAME is renamed aside
to `.NAME.old-PID`, the new folder renamed to NAME, and the old one deleted after that. `--force` replaces only
a folder carrying the marker (or an empty one), never the source, a folder holding it, the home folder or a root.
A run killed anywhere leaves hidden folders that the next run settles: partials are deleted, an old output
whose replacement never arrived is renamed back.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from llamadoctor.durable import pause_point
from llamadoctor.i18n import _
from llamadoctor.runner.errors import RunError

MARKER = ".llamadoctor-convert.json"
TOOL = "llamadoctor convert"


class BadInput(RunError):
    """The request itself is wrong (exit 2)."""

    exit_code = 2


# Fault-injection tests stop a conversion at these steps with llamadoctor.durable.pause_point: planning
# (planned, nothing written), streaming (the first tensor written), finishing (configs written, not yet marked
# complete), swapping (the previous output renamed aside, the new one not yet in), cleaning (the new one in
# place, the previous one not yet deleted).


def _resolved(path: Path) -> Path:
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError):  # a symlink loop
        raise BadInput(
            _("{path} cannot be resolved (a symlink loop?)").format(path=path), _("choose another --out")
        ) from None


def _protected(out: Path) -> str | None:
    """Why `out` (resolved) may never be replaced, whatever it holds."""
    if out.parent == out or os.path.ismount(out):
        return _("--out {out} is a filesystem root")
    home = _resolved(Path.home())
    if out == home or out in home.parents:
        return _("--out {out} is your home folder") if out == home else _("--out {out} holds your home folder")
    return None


def guard_output(out: Path, sources: list[Path], force: bool) -> None:
    """Refuse an --out that would replace the source or anything llamadoctor did not write."""
    target = _resolved(out)
    why = _protected(target)
    if why:
        raise BadInput(why.format(out=out), _("choose a new folder, e.g. beside the model"))
    for source in (_resolved(s) for s in sources):
        if target == source:
            raise BadInput(
                _("--out {out} is the model being converted").format(out=out), _("choose a new folder beside it")
            )
        if target in source.parents:
            raise BadInput(
                _("--out {out} holds the model being converted").format(out=out),
                _("choose a new folder beside the model"),
            )
        if source in target.parents:
            raise BadInput(
                _("--out {out} is inside the model being converted").format(out=out),
                _("choose a folder beside the model"),
            )
    if out.exists() or out.is_symlink():
        _check_replaceable(out, target, force)


def _check_replaceable(out: Path, target: Path, force: bool) -> None:
    """An existing --out is replaced only with --force, and only if it is empty or all convert's own work."""
    if not _is_empty_dir(target):
        if not is_ours(target):
            raise BadInput(
                _(
                    "{out} already exists and was not written by llamadoctor convert (no {marker} in it): "
                    "--force will not replace it"
                ).format(out=out, marker=MARKER),
                _("choose another --out, or move that folder away yourself"),
            )
        added = _not_written_by_convert(target)
        if added:
            raise BadInput(
                _(
                    "{out} already exists and holds files convert did not write ({files}): --force will not replace it"
                ).format(out=out, files=", ".join(added[:3])),
                _("move them out of it, or choose another --out"),
            )
    if not force:
        raise BadInput(
            _("{out} already exists").format(out=out), _("choose another --out, or pass --force to replace it")
        )


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def read_marker(folder: Path) -> dict[str, Any] | None:
    path = folder / MARKER
    if not path.is_file() or path.stat().st_size > 64 * 1024:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("tool") == TOOL else None


def is_ours(folder: Path) -> bool:
    return folder.is_dir() and read_marker(folder) is not None


def is_complete(folder: Path) -> bool:
    """Marked, and holding the config that tools open first (the marker is written last)."""
    return is_ours(folder) and any((folder / name).is_file() for name in ("config.json", "params.json"))


def _not_written_by_convert(folder: Path) -> list[str]:
    marker = read_marker(folder) or {}
    written = marker.get("files")
    if not isinstance(written, list):
        return []
    return sorted(set(os.listdir(folder)) - set(map(str, written)) - {MARKER})


def write_marker(folder: Path, source: Path, to: str) -> None:
    """Mark a finished output as ours, listing every file in it: --force replaces nothing else."""
    import llamadoctor

    info = {"tool": TOOL, "version": llamadoctor.__version__, "from": str(_resolved(source)), "to": to,
            "files": sorted(os.listdir(folder))}  # fmt: skip
    with open(folder / MARKER, "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
        f.flush()
        os.fsync(f.fileno())


def make_parents(out: Path) -> list[Path]:
    """Create the folders `out` goes in; returns those that were missing, deepest first."""
    missing = [p for p in (out.parent, *out.parent.parents) if not (p.exists() or p.is_symlink())]
    out.parent.mkdir(parents=True, exist_ok=True)
    return missing


def remove_if_empty(folders: list[Path]) -> None:
    """Undo `make_parents` after a failed conversion, never taking anything that something else put there."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def partial_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.partial-{os.getpid()}"


def _old_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.old-{os.getpid()}"


def _dead(path: Path) -> bool:
    """The folder's PID suffix names a process that is gone (not ours, not running)."""
    import psutil

    pid = path.name.rsplit("-", 1)[-1]
    return pid.isdigit() and int(pid) != os.getpid() and not psutil.pid_exists(int(pid))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def recover(out: Path) -> list[Path]:
    """Settle what killed conversions to `out` left; returns the folders put back in place."""
    restored = []
    for old in sorted(out.parent.glob(f".{out.name}.old-*")):
        if not _dead(old):
            continue
        if not (out.exists() or out.is_symlink()):
            if is_complete(old) or _is_empty_dir(old):  # else half deleted once replaced: keep it for the user
                os.replace(old, out)  # the new output never arrived: the previous one is the user's
                restored.append(out)
        elif is_complete(out):
            _remove(old)
    for partial in out.parent.glob(f".{out.name}.partial-*"):
        if _dead(partial):
            _remove(partial)
    return restored


def fsync_tree(folder: Path) -> None:
    """Every file of a finished output on disk, then the folder itself: only then may an old one go."""
    for path in folder.iterdir():
        if path.is_file() and not path.is_symlink():
            with open(path, "rb+") as f:  # Windows commits only through a handle that can write
                os.fsync(f.fileno())
    fsync_dir(folder)


def fsync_dir(path: Path) -> None:
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def swap_into_place(tmp: Path, out: Path) -> None:
    """Rename the complete `tmp` to `out`; a previous `out` is deleted only once the new one is in place."""
    old = None
    if out.exists() or out.is_symlink():
        old = _old_dir(out)
        os.replace(out, old)
    try:
        pause_point("swapping")
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)  # interrupted between the two renames: the previous output goes back
        raise
    fsync_dir(out.parent)
    if old is not None:
        try:
            pause_point("cleaning")
        finally:
            _remove(old)
