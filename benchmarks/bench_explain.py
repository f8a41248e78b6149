"""`llamadoctor explain` on a large noisy log: time and peak memory, against grep and the reference matcher.

    /work/venv/bin/python benchmarks/bench_explain.py [--size-mb 50] [--repeat 3] [--reference-mb 5]

Writes a log of the given size as a long torchrun run writes it (ranks' `[rankN]:` prefixes, colour codes,
tqdm bars redrawn with carriage returns, CRLF line ends, warnings, generated text), ending with a c10d
hostname warning and the NCCL error that stopped the run. Then, each in a fresh process, median of
`--repeat` runs: `llamadoctor explain LOG --json --no-checks` (whole command: start, read, decode, match,
rank, print), and `grep -F -f ANCHORS LOG` with the literal anchors of every signature (what a prefilter
alone costs in C). The plain reference matcher `search` runs on the first `--reference-mb` of the log only
(it takes minutes on the whole); its MB/s is printed beside ours. Peak memory is each process's max RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llamadoctor.explaining.matching import literals
from llamadoctor.failures import FAILURES

NOISE = (
    "[rank{r}]: Loading checkpoint shard {n} of 8",
    "\x1b[32mINFO\x1b[0m {n} generation.py:88 loaded {n} tokens in 0.{r}3 s",
    '[rank{r}]:   File "/home/ada/llama/llama/generation.py", line {n}, in generate',
    "\x1b[33mWARNING\x1b[0m: the attention mask and the pad token id were not set ({n})",
    "Generating: {n}%|\u2588\u2588\u2588\u2588      | {r}/8 [00:12<00:31,  1.50s/it]\r"
    "Generating: {n}%|\u2588\u2588\u2588\u2588\u2588     | {r}/8 [00:13<00:30,  1.49s/it]",
    "> Assistant: Mayonnaise is an emulsion of oil, egg yolk and an acid such as vinegar or lemon juice ({n}).",
    "==================================",
    "[rank{r}]: error rate on batch {n}: 0.0{r} (no errors)",
    "I1203 03:44:28.{n} 140 ProcessGroupGloo.cpp:{r}] gloo connected to rank {r}",
)
ENDING = (
    "[W socket.cpp:601] [c10d] The client socket has failed to connect to [kubernetes.docker.internal]:29500"
    " (system error: 10049 - The requested address is not valid in its context.).\r\n"
    "Traceback (most recent call last):\r\n"
    '  File "C:\\llama\\example_chat_completion.py", line 104, in <module>\r\n'
    "    fire.Fire(main)\r\n"
    "RuntimeError: Distributed package doesn't have NCCL built in\r\n"
    "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:\r\n"
)


def write_log(path: Path, size: int) -> None:
    rng = random.Random(14)
    with path.open("w", encoding="utf-8", newline="") as f:
        written = 0
        while written < size:
            lines = [rng.choice(NOISE).format(r=rng.randrange(8), n=rng.randrange(10**6)) for _ in range(2000)]
            block = "\r\n".join(lines) + "\r\n"
            f.write(block)
            written += len(block.encode())
        f.write(ENDING)


def measure(argv: list[str]) -> tuple[float, float, bytes]:
    """Seconds and peak RSS (MB) of one run of `argv`, in a fresh process."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = process.stdout.read() if process.stdout else b""
    _, _, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    return seconds, usage.ru_maxrss / 1024, out


def median_of(argv: list[str], repeat: int) -> tuple[float, float, bytes]:
    runs = [measure(argv) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), runs[-1][2]


REFERENCE = """
import sys, time
from llamadoctor.failures import FAILURES, search
text = open(sys.argv[1], encoding="utf-8", errors="replace").read(int(sys.argv[2]))
start = time.perf_counter()
search(FAILURES, text)
print(time.perf_counter() - start)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference-mb", type=float, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-explain-"))
    log, anchors = folder / "error.log", folder / "anchors.txt"
    write_log(log, int(args.size_mb * 1024 * 1024))
    words = sorted({w for f in FAILURES for s in f.signatures for w in literals(s.pattern)})
    anchors.write_text("\n".join(words) + "\n", encoding="utf-8")
    size_mb = log.stat().st_size / 1024 / 1024
    cli = [sys.executable, "-m", "llamadoctor", "explain", str(log), "--json", "--no-checks"]
    ours, our_rss, out = median_of(cli, args.repeat)
    found = [m["id"] for m in json.loads(out)["matches"]]
    grep, grep_rss, _ = median_of(["grep", "-F", "-c", "-f", str(anchors), str(log)], args.repeat)
    chars = int(args.reference_mb * 1024 * 1024)
    reference = float(
        subprocess.run(
            [sys.executable, "-c", REFERENCE, str(log), str(chars)], capture_output=True, text=True, check=True
        ).stdout
    )
    print(f"log: {size_mb:.1f} MB, {len(words)} anchors from {sum(len(f.signatures) for f in FAILURES)} signatures")
    print(f"found: {', '.join(found)}")
    print(f"llamadoctor explain: {ours:.2f} s, {size_mb / ours:.0f} MB/s, peak {our_rss:.0f} MB")
    print(f"grep -F -f anchors:  {grep:.2f} s, {size_mb / grep:.0f} MB/s, peak {grep_rss:.0f} MB")
    print(f"reference search:    {args.reference_mb / reference:.2f} MB/s (on the first {args.reference_mb:g} MB)")
    speedup = (size_mb / ours) / (args.reference_mb / reference)
    print(f"ratios: explain takes {ours / grep:.1f}x grep's time; it reads {speedup:.0f}x faster than the reference")
    for path in (log, anchors):
        path.unlink()
    folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
