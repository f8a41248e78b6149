"""Meta repo folders with something the safe fixes repair, for the tests of `fix`, `undo` and their output."""

from __future__ import annotations

from pathlib import Path

CRLF_SCRIPT = b'#!/bin/bash\r\nset -e\r\nwget "$URL"\r\n'


def crlf_repo(folder: Path) -> Path:
    """`folder` holding a download.sh with CRLF line endings and no executable bit: two safe fixes."""
    folder.mkdir()
    (folder / "download.sh").write_bytes(CRLF_SCRIPT)
    (folder / "download.sh").chmod(0o644)
    return folder
