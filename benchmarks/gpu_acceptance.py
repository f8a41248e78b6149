"""Acceptance of the runner on one device: one verdict line per item, PASS, FAIL or SKIP, and exit 1 on any FAIL.

    benchmarks/gpu_acceptance.sh                      # CUDA: random 1.1B and 7B, bf16/int8/int4 (under 8 minutes)
    benchmarks/gpu_acceptance.sh --device cpu         # the same items on small shapes, runnable anywhere

Items: `run smoke` on the device; `check --deep`; `run text` on each shape in bf16, int8 and int4 with decode
tokens/s, peak memory (CUDA: `torch.cuda.max_memory_allocated`, CPU: peak RSS) and the fraction of the memory
bandwidth bound (weight bytes read per token x tokens/s over the device's bandwidth); the compiled decode; and
the 7B int8 peak under 12 GB (on small shapes: the same bytes per parameter). Every command is the user's own
(`python -m llamadoctor ...`) in a subprocess with a timeout. The random models are written by `random_llamas.py`
(on the GPU, 7B's numbers are drawn on the device). int8/int4 lines say "not available" on a runner without
`--quantize`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import peak_bandwidth
import random_llamas

from llamadoctor.llama.memory import estimate

PRECISIONS = ("bf16", "int8", "int4")
PROMPT = "The capital of France is"
PEAK_LIMIT_GB = 12  # 7B int8 must run on a 12 GB card


@dataclass(frozen=True)
class Verdict:
    status: str  # PASS, FAIL, SKIP
    item: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.item}: {self.detail}"


@dataclass(frozen=True)
class Run:
    ok: bool
    stats: dict
    error: str


def llamadoctor(args: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "llamadoctor", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, 124, "", f"timed out after {timeout:.0f} s")


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "(no output)"


def quantize_available() -> bool:
    from llamadoctor.runner.session import RunOptions

    return "quantize" in RunOptions.__dataclass_fields__


def read_bytes_per_token(shape: str, precision: str) -> float:
    """Weight bytes a decode step reads, as the runner stores them (scales included): every weight but the
    embedding table, of which it reads one row."""
    from llamadoctor.llama.memory import quantized_bytes, quantized_weight_bytes, weight_bytes

    a = random_llamas.model_args(shape)
    if precision == "bf16":
        return weight_bytes(a, "bf16") - 2 * a.vocab_size * a.dim
    return quantized_weight_bytes(a, precision, "bf16") - quantized_bytes(a.vocab_size, a.dim, "int8")


def run_text(folder: Path, device: str, precision: str, tokens: int, compile: bool, timeout: float) -> Run:
    args = ["run", "text", "--model-dir", str(folder), "--device", device, "--prompt", PROMPT]
    args += ["--max-gen-len", str(tokens), "--max-batch-size", "1", "--temperature", "0", "--json"]
    args += ["--dtype", "bf16"] + (["--quantize", precision] if precision != "bf16" else [])
    args += ["--compile"] if compile else []
    done = llamadoctor(args, timeout)
    if done.returncode != 0:
        return Run(False, {}, last_line(done.stderr or done.stdout))
    try:
        return Run(True, json.loads(done.stdout)["stats"], "")
    except (ValueError, KeyError):
        return Run(False, {}, "no JSON stats in the output: " + last_line(done.stdout))


class Acceptance:
    def __init__(self, opts: argparse.Namespace, emit: Callable[[Verdict], None]) -> None:
        self.opts, self.emit = opts, emit
        self.verdicts: list[Verdict] = []
        self.runs: dict[tuple[str, str], Run] = {}

    def verdict(self, status: str, item: str, detail: str) -> None:
        v = Verdict(status, item, detail)
        self.verdicts.append(v)
        self.emit(v)

    def smoke(self) -> None:
        done = llamadoctor(["run", "smoke", "--device", self.opts.device, "--json", "--tokens", "16"], 600)
        try:
            report = json.loads(done.stdout)
        except ValueError:
            report = {}
        if done.returncode == 0 and report.get("ok"):
            detail = f"{report.get('device_name')} {report.get('dtype')}, logits within {report.get('tolerance')}"
            self.verdict("PASS", "run smoke", f"{detail}, {report.get('tok_s')} tok/s")
        else:
            self.verdict("FAIL", "run smoke", last_line(done.stderr or done.stdout))

    def check_deep(self, folder: Path) -> None:
        done = llamadoctor(["check", "--deep", "--model-dir", str(folder), "--json"], 600)
        try:
            findings = json.loads(done.stdout)["findings"]
        except (ValueError, KeyError):
            self.verdict("FAIL", "check --deep", last_line(done.stderr or done.stdout))
            return
        errors = [f["check"] for f in findings if f.get("severity") == "error"]
        warnings = [f["check"] for f in findings if f.get("severity") == "warning"]
        if done.returncode == 0 and not errors:
            self.verdict("PASS", "check --deep", f"no errors, {len(warnings)} warnings ({', '.join(warnings)})")
        else:
            self.verdict("FAIL", "check --deep", f"errors: {', '.join(errors) or last_line(done.stderr)}")

    def text(self, shape: str, folder: Path, precision: str) -> None:
        item = f"run text {shape} {precision}"
        if precision != "bf16" and not quantize_available():
            self.verdict("SKIP", item, "not available: this runner has no --quantize")
            return
        run = run_text(folder, self.opts.device, precision, self.opts.tokens, False, self.opts.timeout)
        self.runs[(shape, precision)] = run
        if not run.ok:
            self.verdict("FAIL", item, run.error)
            return
        tok_s, peak = run.stats["decode_tok_s"], run.stats["peak_memory_bytes"]
        bound = self.opts.bandwidth / read_bytes_per_token(shape, precision)
        fraction = f"{tok_s / bound:.0%} of the {bound:.1f} tok/s bandwidth bound" if bound > 0 else "bound unknown"
        status = "PASS" if tok_s > 0 else "FAIL"
        self.verdict(status, item, f"{tok_s:.2f} tok/s, peak {peak / 1e9:.2f} GB, {fraction}")

    def compiled(self, shape: str, folder: Path) -> None:
        item = f"compiled decode {shape} bf16"
        run = run_text(folder, self.opts.device, "bf16", self.opts.tokens, True, self.opts.timeout)
        if not run.ok:
            self.verdict("FAIL", item, run.error)
            return
        eager = self.runs.get((shape, "bf16"))
        speedup = ""
        if eager and eager.ok and eager.stats["decode_tok_s"] > 0:
            speedup = f", {run.stats['decode_tok_s'] / eager.stats['decode_tok_s']:.2f}x eager"
        tok_s, compile_s = run.stats["decode_tok_s"], run.stats["compile_s"]
        status = "PASS" if compile_s > 0 and tok_s > 0 else "FAIL"
        why = "" if compile_s > 0 else " (fell back to eager: no compile time recorded)"
        self.verdict(status, item, f"{tok_s:.2f} tok/s{speedup}, compiled in {compile_s:.1f} s{why}")

    def int8_peak(self, shape: str) -> None:
        """On CUDA, 7B int8 must fit a 12 GB card. A CPU's peak RSS also counts the interpreter and torch's own
        libraries, so there the figure is shown beside the runner's own estimate, not judged."""
        item = f"{shape} int8 peak < {PEAK_LIMIT_GB:g} GB"
        run = self.runs.get((shape, "int8"))
        if run is None:
            self.verdict("SKIP", item, "not available: no int8 run")
        elif not run.ok:
            self.verdict("FAIL", item, f"the int8 run failed: {run.error}")
        elif self.opts.device != "cuda":
            args = random_llamas.model_args(shape)
            needed = estimate(args, dtype="bf16", device="cpu", max_batch_size=1, quantize="int8").needed_bytes
            detail = f"peak RSS {run.stats['peak_memory_bytes'] / 1e9:.2f} GB, estimated {needed / 1e9:.2f} GB"
            self.verdict("SKIP", item, f"a GPU's limit, not judged on {self.opts.device}: {detail}")
        else:
            peak = run.stats["peak_memory_bytes"]
            self.verdict("PASS" if peak < PEAK_LIMIT_GB * 1e9 else "FAIL", item, f"peak {peak / 1e9:.2f} GB")


def write_models(shapes: Sequence[str], root: Path, device: str) -> dict[str, Path]:
    import torch

    draw_on = "cuda" if device == "cuda" and torch.cuda.is_available() else "cpu"
    return {s: random_llamas.write_model(s, root, torch.bfloat16, device=draw_on) for s in shapes}


def accept(opts: argparse.Namespace, root: Path, emit: Callable[[Verdict], None]) -> list[Verdict]:
    started = time.perf_counter()
    a = Acceptance(opts, emit)
    a.smoke()
    models = write_models(opts.shapes, root, opts.device)
    a.check_deep(models[opts.shapes[0]])
    for shape in opts.shapes:
        for precision in PRECISIONS:
            a.text(shape, models[shape], precision)
    if not opts.no_compile:
        a.compiled(opts.shapes[0], models[opts.shapes[0]])
    a.int8_peak(opts.shapes[-1])
    minutes = (time.perf_counter() - started) / 60
    budget = opts.budget_minutes
    a.verdict("PASS" if minutes < budget else "FAIL", f"total time < {budget:g} min", f"{minutes:.1f} min")
    return a.verdicts


def parse(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--shapes", nargs="+", choices=list(random_llamas.SHAPES), help="default: 1.1B 7B on cuda")
    parser.add_argument("--tokens", type=int, default=64, help="tokens generated per run text")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed to each run text")
    parser.add_argument("--budget-minutes", type=float, default=8, help="the whole run must take less")
    parser.add_argument("--no-compile", action="store_true", help="leave out the compiled decode")
    parser.add_argument("--dir", type=Path, default=None, help="keep the random models here (default: temp)")
    opts = parser.parse_args(argv)
    opts.shapes = opts.shapes or (["1.1B", "7B"] if opts.device == "cuda" else ["tiny", "15M"])
    return opts


def main(argv: Optional[Sequence[str]] = None) -> int:
    opts = parse(argv)
    opts.bandwidth, source = peak_bandwidth.bytes_per_second(opts.device)
    print(f"device {opts.device}: memory bandwidth {opts.bandwidth / 1e9:.0f} GB/s ({source})", flush=True)
    with tempfile.TemporaryDirectory(prefix="acceptance-") as tmp:
        verdicts = accept(opts, opts.dir or Path(tmp), lambda v: print(v.line(), flush=True))
    failed = [v for v in verdicts if v.status == "FAIL"]
    print(f"{len(verdicts) - len(failed)} of {len(verdicts)} items did not fail", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
