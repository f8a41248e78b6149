"""Run a command and measure its wall time and peak RSS without the caller's memory leaking into the figure.

On Linux a child's `ru_maxrss` starts from the high-water mark of the process that spawned it: exec keeps the old
address space's peak, and Python spawns with vfork, so a benchmark that has just written a 4 GB checkpoint would
see 4 GB in every child it measures. Going through this launcher (a fresh interpreter of a few MB, which then
spawns the command) leaves only the command's own peak.

    from fresh import run_fresh
    done = run_fresh([sys.executable, "-m", "llamadoctor", ...], timeout=600)
    done.seconds, done.peak_rss, done.returncode, done.stdout, done.stderr
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss: int  # bytes
    returncode: int
    stdout: str
    stderr: str


def run_fresh(argv: list[str], timeout: float) -> Measured:
    with tempfile.TemporaryDirectory(prefix="fresh-") as tmp:
        result = Path(tmp) / "result.json"
        done = subprocess.run(
            [sys.executable, __file__, str(result), str(timeout), *argv],
            capture_output=True,
            text=True,
            timeout=timeout + 60,
            check=False,
        )
        if not result.exists():
            raise RuntimeError(f"the launcher failed ({done.returncode}): {done.stderr[-2000:]}")
        figures = json.loads(result.read_text())
    return Measured(figures["seconds"], figures["peak_rss"], figures["returncode"], done.stdout, done.stderr)


def _launch(result: Path, timeout: float, argv: list[str]) -> None:
    started = time.perf_counter()
    proc = subprocess.Popen(argv)
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    result.write_text(
        json.dumps(
            {"seconds": seconds, "peak_rss": usage.ru_maxrss * scale, "returncode": os.waitstatus_to_exitcode(status)}
        )
    )


if __name__ == "__main__":
    _launch(Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3:])
