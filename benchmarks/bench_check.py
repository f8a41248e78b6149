"""Wall time of `llamadoctor check` against `python -m torch.utils.collect_env`, measured in the same run.

    python benchmarks/bench_check.py [--repeat 7]

Targets: median of `llamadoctor check` at most 0.5 s, and at most a quarter of
collect_env's median on the same machine. Both commands run as fresh processes, as a user would run them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# As installed by pip, llamadoctor's modules have their bytecode compiled; an editable checkout run with
# PYTHONDONTWRITEBYTECODE=1 would compile all of them on every start (about 0.1 s here), so the warm-up run
# writes the bytecode, as pip would have.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(argv: list[str], cwd: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 0 healthy, 1 findings; anything else would time a failure
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return seconds


def measure(argv: list[str], repeat: int, cwd: str) -> list[float]:
    wall(argv, cwd)  # warm the page cache once, as a second run by a user would be
    return [wall(argv, cwd) for _ in range(repeat)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    doctor = shutil.which("llamadoctor", path=os.path.dirname(sys.executable)) or "llamadoctor"
    cwd = tempfile.mkdtemp(prefix="bench-check-")
    rows = {
        "llamadoctor check": measure([doctor, "check"], args.repeat, cwd),
        "llamadoctor check --json": measure([doctor, "check", "--json"], args.repeat, cwd),
        "llamadoctor check --deep": measure([doctor, "check", "--deep"], max(3, args.repeat // 2), cwd),
        "python -m torch.utils.collect_env": measure(
            [sys.executable, "-m", "torch.utils.collect_env"], max(3, args.repeat // 2), cwd
        ),
    }
    peer = statistics.median(rows["python -m torch.utils.collect_env"])
    print(f"{'command':36} {'median s':>9} {'min s':>7} {'max s':>7} {'vs collect_env':>15}")
    for name, times in rows.items():
        median = statistics.median(times)
        print(f"{name:36} {median:9.3f} {min(times):7.3f} {max(times):7.3f} {median / peer:14.2f}x")
    check = statistics.median(rows["llamadoctor check"])
    print(
        f"\ncheck median {check:.3f} s (target ≤ 0.5 s: {'met' if check <= 0.5 else 'MISSED'}); "
        f"ratio to collect_env {check / peer:.2f} (target ≤ 0.25: {'met' if check / peer <= 0.25 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
