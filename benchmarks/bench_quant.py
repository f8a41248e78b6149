"""Decode speed of `llamadoctor run` against llama.cpp at the same precision, on the same random weights.

    python benchmarks/bench_quant.py                          # 110M and 1.1B (writes ~12 GB to the --dir)
    python benchmarks/bench_quant.py --shapes 7B --dir /data  # 7B: 13.5 GB of bf16 weights + 25 GB of GGUF

Setup (outside the test suite, nothing committed): `peers/llama_cpp.py` builds llama.cpp's `llama-bench` and
`llama-quantize` from the llama-cpp-python sdist. For each shape a random Llama is written once as an HF folder
(`random_llamas.py`), converted by llama.cpp's own `convert_hf_to_gguf.py` to GGUF F32 (fp32 shapes) and F16, and
`llama-quantize`d to Q8_0 and Q4_0. Pairs: ours fp32 vs F32, bf16 vs F16, int8 vs Q8_0, int4 vs Q4_0, and our
default (no flags) vs llama.cpp at the precision the default picked. int8/int4 rows appear when the runner has
`RunOptions.quantize`.

Both decode greedily with 2 threads (ours: `torch.set_num_threads(2)`, llama.cpp: `-t 2`), 64 tokens, batch 1.
Ours is measured through `Session` (what `llamadoctor run` does: its dtype, its CPU transforms, its quantization),
in a fresh process per figure; llama.cpp by `llama-bench -p 0 -n 64 -r 1`. A round measures every pair once,
back to back; a ratio is taken within its round and the median of the rounds is kept (this machine's speed
drifts). Load peak RSS is ours: the peak resident set after loading and a first forward pass, above the
process's baseline after importing torch, less the KV cache, over the bytes of the weights as loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))

from fresh import run_fresh  # beside this script: python puts its folder on sys.path

PROMPT = [1, 450, 4996, 17354, 1701, 432, 17204, 975]
# Our precision -> llama.cpp's file type at that precision.
PEER_TYPE = {"fp32": "F32", "bf16": "F16", "int8": "Q8_0", "int4": "Q4_0"}
QUANTIZED = ("int8", "int4")


@dataclass(frozen=True)
class Pair:
    ours: str  # fp32, bf16, int8, int4, or "default" (no flags)
    peer: str  # F32, F16, Q8_0, Q4_0


def quantize_supported() -> bool:
    from llamadoctor.runner.session import RunOptions

    return "quantize" in RunOptions.__dataclass_fields__


def weights_bytes(model) -> int:
    """Bytes of every parameter and buffer but the KV cache, each storage counted once (tied tables, views), and
    of the weights a kernel holds in its own packed form."""
    seen: dict[int, int] = {}
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if t is None or name.endswith(("cache_k", "cache_v")):
            continue
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(seen.values()) + sum(getattr(m, "packed_bytes", 0) for m in model.modules())


def cache_bytes(model) -> int:
    return sum(t.numel() * t.element_size() for n, t in model.named_buffers() if n.endswith(("cache_k", "cache_v")))


def worker_ours(model_dir: Path, precision: str, tokens: int, threads: int, compile: bool) -> dict:
    import torch

    if threads:
        torch.set_num_threads(threads)
    from llamadoctor.runner.device import DTYPE_NAMES, peak_rss_bytes
    from llamadoctor.runner.generate import Sampling, Timings
    from llamadoctor.runner.session import RunOptions, Session

    base = peak_rss_bytes()
    fields = {"model_dir": model_dir, "max_batch_size": 1, "temperature": 0.0, "compile": compile}
    if precision in QUANTIZED:
        fields["quantize"] = precision
    elif precision != "default":
        fields["dtype"] = precision
    session = Session.prepare(RunOptions(**fields))
    started = time.perf_counter()
    session.load()
    load_s = time.perf_counter() - started
    gen = session.generator
    assert gen is not None
    model = gen.model
    gen.stop_ids = frozenset()  # exactly `tokens` tokens, even where random weights pick the end-of-text id
    gen.generate([PROMPT], Sampling(max_gen_len=2, temperature=0), Timings())  # touches every weight; warms up
    weights = weights_bytes(model)
    rss_ratio = (peak_rss_bytes() - base - cache_bytes(model)) / weights
    timings = Timings()
    gen.generate([PROMPT], Sampling(max_gen_len=tokens, temperature=0), timings)
    quantize = getattr(session.opts, "quantize", None)
    return {
        "tok_s": timings.decode_tok_s,
        "dtype": DTYPE_NAMES[session.dtype],
        "quantize": quantize,
        "threads": torch.get_num_threads(),
        "weights": weights,
        "load_s": load_s,
        "load_rss_ratio": rss_ratio,
    }


def profile_step(model_dir: Path, precision: str, threads: int) -> None:
    """Where one decode step's time goes: torch's profiler over a few steps, by operator, in this process."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(threads)
    from llamadoctor.runner.session import RunOptions, Session

    fields = {"model_dir": model_dir, "max_batch_size": 1, "temperature": 0.0}
    fields.update({"quantize": precision} if precision in QUANTIZED else {"dtype": precision})
    session = Session.prepare(RunOptions(**fields))
    session.load()
    assert session.generator is not None
    model = session.generator.model
    with torch.inference_mode():
        model(torch.tensor([PROMPT]), 0)
        steps = 8
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for i in range(steps):
                model(torch.tensor([[PROMPT[-1]]]), len(PROMPT) + i)
    print(f"{steps} decode steps, {precision}, {threads} threads; times are totals over the steps")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def peer_precision(ours: dict) -> str:
    """The llama.cpp file type at the precision our run ended up with."""
    return PEER_TYPE.get(ours["quantize"] or ours["dtype"], "F16")


def run_worker(*argv: str) -> dict:
    # Through a fresh launcher: a child spawned by this process would start with this process's peak RSS.
    out = run_fresh([sys.executable, __file__, "--worker", *argv], timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"worker {argv} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def llama_bench(tools, gguf: Path, tokens: int, threads: int) -> float:
    cmd = [str(tools.bench), "-m", str(gguf), "-t", str(threads), "-p", "0", "-n", str(tokens), "-r", "1", "-o", "json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"llama-bench failed on {gguf.name}: {done.stderr[-2000:]}")
    return float(json.loads(done.stdout)[0]["avg_ts"])


def ggufs(tools, hf: Path, peers: set[str], out: Path) -> dict[str, Path]:
    """The HF folder converted by llama.cpp's converter (F32/F16) and quantized by llama-quantize (Q8_0/Q4_0)."""
    env = {**os.environ, "PYTHONPATH": str(tools.gguf_py)}
    files: dict[str, Path] = {}
    for kind in ("F32", "F16"):
        if kind in peers or (kind == "F16" and peers & {"Q8_0", "Q4_0"}):
            files[kind] = out / f"{hf.name}-{kind.lower()}.gguf"
            if not files[kind].is_file():
                cmd = [sys.executable, str(tools.converter), str(hf), "--outtype", kind.lower()]
                subprocess.run([*cmd, "--outfile", str(files[kind])], env=env, check=True, timeout=7200)
    source = files.get("F32", files.get("F16"))
    for kind in ("Q8_0", "Q4_0"):
        if kind in peers:
            files[kind] = out / f"{hf.name}-{kind.lower()}.gguf"
            if not files[kind].is_file():
                cmd = [str(tools.quantize), str(source), str(files[kind]), kind, "2"]
                subprocess.run(cmd, check=True, timeout=7200, capture_output=True)
    return files


def measure_shape(shape: str, root: Path, opts: argparse.Namespace, tools) -> list[dict]:
    dtype = "bfloat16" if shape == "7B" else "float32"  # 7B in fp32 (27 GB) fits neither this machine nor a laptop
    hf = Path(run_worker("write", shape, str(root), dtype)["folder"])
    precisions = ["default", "bf16"] + ([] if shape == "7B" else ["fp32"])
    if quantize_supported():
        precisions += list(QUANTIZED)
    peers = {PEER_TYPE[p] for p in precisions if p in PEER_TYPE} | {"F16"}
    files = ggufs(tools, hf, peers, root)
    rounds: list[dict[str, dict]] = []
    for r in range(opts.repeats):
        figures: dict[str, dict] = {}
        for precision in precisions:
            try:
                ours = run_worker("ours", str(hf), precision, str(opts.tokens), str(opts.threads), "eager")
            except RuntimeError as e:  # e.g. the default refused as too big for this machine: a row, not a crash
                figures[precision] = {"error": str(e).strip().splitlines()[-1]}
                print(f"{shape} round {r + 1} {precision}: {figures[precision]}", file=sys.stderr, flush=True)
                continue
            peer = peer_precision(ours)
            ours["peer"] = peer
            ours["peer_tok_s"] = llama_bench(tools, files[peer], opts.tokens, opts.threads or os.cpu_count() or 1)
            figures[precision] = ours
            print(f"{shape} round {r + 1} {precision}: {json.dumps(ours)}", file=sys.stderr, flush=True)
        rounds.append(figures)
    return [summarise(shape, p, [r[p] for r in rounds]) for p in precisions]


def summarise(shape: str, precision: str, rounds: list[dict]) -> dict:
    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    failed = [r["error"] for r in rounds if "error" in r]
    if failed:
        return {"shape": shape, "ours": precision, "error": failed[-1]}

    last = rounds[-1]
    label = precision if precision != "default" else f"default ({last['quantize'] or last['dtype']})"
    return {
        "shape": shape,
        "ours": label,
        "peer": last["peer"],
        "ours_tok_s": median("tok_s"),
        "peer_tok_s": median("peer_tok_s"),
        "ratio": statistics.median(r["tok_s"] / r["peer_tok_s"] for r in rounds),
        "weights_gb": last["weights"] / 1e9,
        "load_rss_ratio": median("load_rss_ratio"),
        "threads": last["threads"],
    }


def print_table(rows: list[dict], opts: argparse.Namespace) -> None:
    print(
        f"CPU decode, batch 1, greedy, {opts.tokens} tokens, {opts.threads} threads for both, {os.cpu_count()} cores, "
        f"medians of {opts.repeats} alternating rounds (ratios within a round)"
    )
    print(
        f"{'shape':>5} {'ours':>15} {'tok/s':>7} {'llama.cpp':>9} {'tok/s':>7} {'ratio':>6} "
        f"{'weights GB':>10} {'load RSS/w':>10}"
    )
    for r in rows:
        if "error" in r:
            print(f"{r['shape']:>5} {r['ours']:>15} failed: {r['error']}")
            continue
        print(
            f"{r['shape']:>5} {r['ours']:>15} {r['ours_tok_s']:7.2f} {r['peer']:>9} {r['peer_tok_s']:7.2f} "
            f"{r['ratio']:6.2f} {r['weights_gb']:10.2f} {r['load_rss_ratio']:10.2f}"
        )


def main() -> None:
    from random_llamas import SHAPES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=["110M", "1.1B"], choices=list(SHAPES))
    parser.add_argument("--tokens", type=int, default=64, help="tokens generated per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds; the median is kept")
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="threads for both (torch.set_num_threads and -t); 0: torch's default for ours",
    )
    parser.add_argument("--dir", type=Path, default=None, help="where to keep the models (default: a temp dir)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    parser.add_argument("--profile", nargs=2, metavar=("MODEL_DIR", "PRECISION"), help="profile decode steps")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.profile:
        profile_step(Path(opts.profile[0]), opts.profile[1], opts.threads)
        return
    if opts.worker:
        print(json.dumps(_worker(opts.worker)))
        return
    import llama_cpp

    tools = llama_cpp.ensure_built()
    with tempfile.TemporaryDirectory() as tmp:
        root = opts.dir or Path(tmp)
        rows = [row for shape in opts.shapes for row in measure_shape(shape, root, opts, tools)]
    print_table(rows, opts)
    if opts.json:
        opts.json.write_text(json.dumps(rows, indent=2))


def _worker(argv: list[str]) -> dict:
    kind, *rest = argv
    if kind == "write":
        import torch
        from random_llamas import write_model

        return {"folder": str(write_model(rest[0], Path(rest[1]), getattr(torch, rest[2])))}
    model_dir, precision, tokens, threads, mode = rest
    return worker_ours(Path(model_dir), precision, int(tokens), int(threads), compile=mode == "compile")


if __name__ == "__main__":
    main()
