"""`diff` in a real terminal (a pty) at 80 and 200 columns: ids whole, no line past the edge, colour on."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llamadoctor import testing
from llamadoctor.bugreport import build
from llamadoctor.engine import run
from llamadoctor.privacy import Identity
from llamadoctor.registry import all_checks

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="ptys are POSIX")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _in_terminal(args: list[str], columns: int, cwd: Path) -> tuple[int, str]:
    import fcntl
    import pty
    import struct
    import termios

    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        [sys.executable, "-m", "llamadoctor", *args], stdout=secondary, stderr=secondary, cwd=cwd, env=env
    )
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        code = proc.wait(timeout=60)
    finally:
        os.close(primary)
    return code, seen.decode("utf-8", "replace").replace("\r\n", "\n")


@pytest.mark.parametrize("columns", [80, 200])
def test_diff_in_a_terminal(tmp_path: Path, columns: int) -> None:
    reports = [run(facts, all_checks()) for facts in (testing.linux_gpu(), testing.linux_cpu_only_torch())]
    for name, report in zip(("a.json", "b.json"), reports):
        (tmp_path / name).write_text(json.dumps(build(report, Identity())))
    statuses = [{r.check.id: r.status for r in report.results} for report in reports]
    changed = sum(status != statuses[1][check] for check, status in statuses[0].items())
    code, raw = _in_terminal(["diff", "a.json", "b.json"], columns, tmp_path)
    assert code == 1, raw
    assert "\x1b[" in raw  # a terminal gets colour
    text = _ANSI.sub("", raw)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= columns
    for check in ("torch-cpu-only", "nccl-unavailable", "cuda-driver-too-old", "gpu-arch-unsupported"):
        assert re.search(rf"(?<![\w-]){check}(?![\w-])", text), check  # never folded inside an id
    version_row = next(line for line in lines if "torch.version" in line)
    assert "2.3.1+cu121" in version_row and "2.3.1+cpu" in version_row
    assert f"{changed} check result(s) and 5 fact(s) differ" in " ".join(text.split())
