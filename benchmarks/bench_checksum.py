"""Checksum throughput: llamadoctor's parallel md5 against `md5sum` on the same files, in the same run.

    /work/venv/bin/python benchmarks/bench_checksum.py [--files 2] [--size-mb 1024] [--repeat 3] [--dir DIR]

Writes N random files (default 2 x 1 GiB, like two shards), then alternates `md5sum -c` (one process, files
one after another, as download.sh does) and llamadoctor's verify_checklists (threads, no cache), and prints
the median seconds, MB/s and the ratio (>1: llamadoctor is faster). The page cache is warm for both after
the first round; the first round is dropped.
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
from pathlib import Path

from llamadoctor.probes.checksum import verify_checklists


def write_files(folder: Path, count: int, size: int) -> list[Path]:
    paths = []
    block = os.urandom(8 * 1024 * 1024)
    for i in range(count):
        path = folder / f"consolidated.{i:02d}.pth"
        with path.open("wb") as f:
            left = size
            while left > 0:
                f.write(block[: min(left, len(block))])
                left -= len(block)
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    if not shutil.which("md5sum"):
        print("md5sum is not on PATH: nothing to compare with", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="bench-md5-", dir=args.dir))
    try:
        paths = write_files(folder, args.files, args.size_mb * 1024 * 1024)
        total = sum(p.stat().st_size for p in paths)
        out = subprocess.run(["md5sum", *[p.name for p in paths]], cwd=folder, capture_output=True, check=True)
        (folder / "checklist.chk").write_bytes(out.stdout)
        ours, theirs = [], []
        for _ in range(args.repeat + 1):
            start = time.perf_counter()
            subprocess.run(["md5sum", "-c", "--quiet", "checklist.chk"], cwd=folder, check=True)
            theirs.append(time.perf_counter() - start)
            start = time.perf_counter()
            [chk] = verify_checklists([(folder / "checklist.chk", folder)], cache_path=None)
            ours.append(time.perf_counter() - start)
            assert all(e.status == "ok" for e in chk.entries), chk
        ours, theirs = ours[1:], theirs[1:]  # the first round warms the page cache
        mine, peer = statistics.median(ours), statistics.median(theirs)
        mb = total / 1e6
        print(f"{args.files} files x {args.size_mb} MiB, {os.cpu_count()} CPUs, median of {args.repeat}")
        print(f"  md5sum -c      {peer:7.2f} s  {mb / peer:8.0f} MB/s")
        print(f"  llamadoctor    {mine:7.2f} s  {mb / mine:8.0f} MB/s")
        print(f"  ratio          {peer / mine:7.2f}x  (md5sum time / llamadoctor time; target >= 0.9)")
        return 0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
