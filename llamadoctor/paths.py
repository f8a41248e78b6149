"""Where llamadoctor keeps its own files, and how much room a folder has.

State (fix backups, the undo journal, crash logs) lives in the user's state folder: losing it loses undo. The
checksum cache lives in the user's cache folder: deleting it only makes the next check hash again.
"""

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


def cache_dir() -> Path:
    """The per-user cache folder; LLAMADOCTOR_CACHE_DIR overrides it, and a LLAMADOCTOR_STATE_DIR given alone
    keeps the cache inside that folder too (a portable install, a test)."""
    override = os.environ.get("LLAMADOCTOR_CACHE_DIR")
    if override:
        return Path(override)
    if os.environ.get("LLAMADOCTOR_STATE_DIR"):
        return state_dir() / "cache"
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "llamadoctor" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "llamadoctor"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llamadoctor"


def disk_usage(path: Path) -> tuple[int, int]:
    """(total, free) bytes of the file system that holds `path`, or would hold it: a folder not made yet
    is on its nearest existing parent's."""
    target = path
    while not target.exists() and target != target.parent:
        target = target.parent
    usage = shutil.disk_usage(target)
    return int(usage.total), int(usage.free)
