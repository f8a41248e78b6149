"""Where llamadoctor keeps its own state: fix backups, the undo journal, the checksum cache."""

from __future__ import annotations

import os
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
