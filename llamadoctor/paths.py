"""Where llamadoctor keeps its own state (fix backups, the undo journal, the checksum cache), and how much room
a folder has."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def state_dir() -> Path:
    """The per-user state folder; LLAMADOCTOR_STATE_DIR overrides it (tests, portable installs)."""
    override = os.environ.get("LLAMADOCTOR_STATE_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "llamadoctor"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "llamadoctor"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "llamadoctor"


def disk_usage(path: Path) -> tuple[int, int]:
    """(total, free) bytes of the file system that holds `path`, or would hold it: a folder not made yet
    is on its nearest existing parent's."""
    target = path
    while not target.exists() and target != target.parent:
        target = target.parent
    usage = shutil.disk_usage(target)
    return int(usage.total), int(usage.free)
