"""Progress of long reads (hashing a download): the callback type, and a rich bar that draws it once there
is something to read."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any, Callable

from llamadoctor.i18n import N_, _

# (bytes done so far, bytes to do in all): called from worker threads, at most once per chunk and file.
ProgressFn = Callable[[int, int], None]


@contextlib.contextmanager
def rich_progress(console: Any = None, description: str = N_("Verifying checksums")) -> Iterator[ProgressFn]:
    """A ProgressFn drawing a rich progress bar (bytes, speed, time left) for as long as the block runs."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    bar = Progress(*columns, console=console, transient=True)
    task = bar.add_task(_(description), total=None)
    lock = threading.Lock()
    started = False

    def update(done: int, total: int) -> None:
        nonlocal started
        if not total:
            return  # nothing to read (all cached, or hashing is off): no bar at all
        with lock:
            if not started:
                bar.start()
                started = True
        bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        with lock:
            if started:
                bar.stop()
