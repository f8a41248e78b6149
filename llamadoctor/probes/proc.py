"""Running external programs: the one seam probes share, always with a timeout, never through a shell."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import Callable, Optional

Run = Callable[[Sequence[str], float], "subprocess.CompletedProcess[str]"]


def run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run argv and capture text output. Raises OSError if it can't start, TimeoutExpired if it hangs."""
    return subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
        encoding="utf-8",
        errors="replace",
    )


def output(argv: Sequence[str], timeout: float, runner: Run = run) -> Optional[str]:
    """stdout of a successful run, or None if the program is missing, fails or hangs."""
    try:
        done = runner(argv, timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None
