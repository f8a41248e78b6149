"""Wall time of `check --distributed` under torchrun at 2, 4 and 8 local ranks against one plain `check`,
measured in the same run.

    python benchmarks/bench_distributed.py [--repeat 3] [--ranks 2 4 8]

Each command runs as a fresh process tree, as a user would launch it; the launcher and every rank import torch,
which `check` alone never does. A second column times `python -m torch.distributed.run` with a script that only
imports torch.distributed, so the cost of torchrun itself is told apart from the doctor's. Beside the wall
time, the CPU seconds of the whole process tree (launcher and ranks): on a machine shared with other work the
wall time follows the load, the CPU time far less.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "RANK", "WORLD_SIZE")}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def wall(argv: list[str], cwd: str) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of the process and every process it waited for."""
    started, cpu = time.perf_counter(), _cpu()
    done = subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, timeout=600, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-800:]}")
    return seconds, _cpu() - cpu


def torchrun(ranks: int, *command: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(ranks),
            "--master_addr", "127.0.0.1", "--master_port", str(_port()), *command]  # fmt: skip


def median(argv_of: object, repeat: int, cwd: str) -> tuple[float, float]:
    make = argv_of if callable(argv_of) else (lambda: argv_of)
    wall(make(), cwd)  # bytecode and page cache warm, as for a second run by a user
    runs = [wall(make(), cwd) for _ in range(repeat)]
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 4, 8])
    args = parser.parse_args()
    cwd = tempfile.mkdtemp(prefix="bench-distributed-")
    empty = os.path.join(cwd, "empty.py")
    with open(empty, "w") as f:
        f.write("import torch.distributed\n")
    single = median([sys.executable, "-m", "llamadoctor", "check"], args.repeat, cwd)
    print(f"{'command':36} {'wall s':>7} {'CPU s':>7} {'torchrun alone: wall s':>23} {'CPU s':>7}")
    print(f"{'llamadoctor check':36} {single[0]:7.2f} {single[1]:7.2f}")
    for n in args.ranks:
        doctor = median(lambda n=n: torchrun(n, "-m", "llamadoctor", "check", "--distributed"), args.repeat, cwd)
        bare = median(lambda n=n: torchrun(n, empty), args.repeat, cwd)
        row = f"{f'torchrun x{n} check --distributed':36} {doctor[0]:7.2f} {doctor[1]:7.2f}"
        print(f"{row} {bare[0]:23.2f} {bare[1]:7.2f}", flush=True)


if __name__ == "__main__":
    main()
