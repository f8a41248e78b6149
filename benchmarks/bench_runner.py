"""Decode speed and load memory of `llamadoctor run` on the CPU, as ratios against peers measured in the same run.

    python benchmarks/bench_runner.py                       # 15M, 110M and 1.1B shapes (writes ~9 GB to a temp dir)
    python benchmarks/bench_runner.py --shapes 15M 110M --tokens 64 --repeats 3

For each shape a random fp32 Llama is written once as a Meta checkpoint and as an HF folder (same weights). Every
figure comes from a fresh subprocess (clean RSS, no shared caches). A round measures each figure once, back to
back; each ratio is taken within its round, and the median over rounds is kept (this machine's speed drifts):
- ours: decode tokens/s of llamadoctor's Generator (greedy, batch 1, the KV cache of the default --max-seq-len
  512), and load peak RSS above the baseline after importing torch, once all weights have been touched by a
  forward pass;
- linears: the step's projections alone, back to back, as the eager runner runs them (split over the threads,
  `cpu.SplitLinear`), in that process: tells the runner's own overhead from the products' time;
- transformers: `LlamaForCausalLM.generate` (greedy) on the HF folder, decode rate (N-1)/(t(N) - t(1));
- bandwidth: this machine's memory read bandwidth (the fastest of a torch sum, an fp32 gemv and the
  runner's split gemv over 512 MB), giving the bound
  tokens/s <= bandwidth / weight bytes read per token (all weights but the embedding table).
Targets: >= 4x transformers on 15M; >= 0.8 of the bound on 110M and 1.1B; load peak RSS <= 1.15x weights.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

# The tiny-model builders live with the tests (they are not shipped); the benchmark runs from a checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fresh import run_fresh  # beside this script: python puts its folder on sys.path

SHAPES = {
    "15M": {"dim": 288, "n_layers": 6, "n_heads": 6, "multiple_of": 32},
    "110M": {"dim": 768, "n_layers": 12, "n_heads": 12, "multiple_of": 32},
    "1.1B": {
        "dim": 2048,
        "n_layers": 22,
        "n_heads": 32,
        "n_kv_heads": 4,
        "ffn_dim_multiplier": None,
        "multiple_of": 256,
        "ffn_hidden_dim": 5632,
    },
}
PROMPT = [1, 450, 4996, 17354, 1701, 432, 17204, 975]


def _args(shape: str):
    from llamadoctor.runner.args import ModelArgs

    fields = {k: v for k, v in SHAPES[shape].items() if v is not None}
    return ModelArgs(vocab_size=32000, **fields)


def write_checkpoints(shape: str, root: Path) -> tuple[Path, Path]:
    import torch

    from builders import llamas

    meta, hf = root / f"{shape}-meta", root / f"{shape}-hf"
    if not (meta / "params.json").exists():
        args = _args(shape)
        state = llamas.random_state(args, seed=0, dtype=torch.float32)
        llamas.write_meta(meta, args, state, "llama2")
        params = json.loads((meta / "params.json").read_text())
        params |= {"n_kv_heads": args.kv_heads, "vocab_size": args.vocab_size}
        if args.ffn_hidden_dim:  # TinyLlama's 5632 is not Meta's rule for dim 2048: state it for our loader
            params["ffn_hidden_dim"] = args.ffn_hidden_dim
        (meta / "params.json").write_text(json.dumps(params))
        llamas.write_hf(hf, args, state)
    return meta, hf


def worker_ours(model_dir: Path, tokens: int, compile: bool) -> dict[str, float]:
    import torch

    from llamadoctor.runner import loader
    from llamadoctor.runner.device import peak_rss_bytes
    from llamadoctor.runner.distributed import SINGLE
    from llamadoctor.runner.generate import Generator, Sampling, Timings
    from llamadoctor.runner.session import RunOptions

    base = peak_rss_bytes()
    started = time.perf_counter()
    model = loader.load(model_dir, SINGLE, torch.device("cpu"), torch.float32)
    load_s = time.perf_counter() - started
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    # A decode step reads every weight once, except the embedding table, of which it reads one row (unless
    # the output layer shares it).
    table = model.tok_embeddings.weight
    tied = model.output.weight.data_ptr() == table.data_ptr()
    read_per_token = weights - (0 if tied else table.numel() * table.element_size())
    # The RSS figure is taken after one forward pass has touched every weight, before any compile.
    model.setup_cache(1, 8)
    model(torch.tensor([PROMPT[:4]]), 0)
    rss_ratio = (peak_rss_bytes() - base) / weights
    # The cache a user gets: `llamadoctor run` sizes it by --max-seq-len (512 unless told), not by the job.
    max_seq_len = max(RunOptions(model_dir=model_dir).max_seq_len, len(PROMPT) + tokens + 1)
    gen = Generator(model, 1, max_seq_len, frozenset(), compile=compile)
    warm_up = Timings()  # the same short warm-up generation the transformers worker gets
    gen.generate([PROMPT], Sampling(max_gen_len=2, temperature=0), warm_up)
    timings = Timings()
    gen.generate([PROMPT], Sampling(max_gen_len=tokens, temperature=0), timings)
    return {
        "tok_s": timings.decode_tok_s,
        "linears_tok_s": 1 / _linears_only_s(model),
        "load_s": load_s,
        "weights": weights,
        "read_per_token": read_per_token,
        "load_rss_ratio": rss_ratio,
        "compile_s": warm_up.compile_s,
    }


def _linears_only_s(model) -> float:
    """Seconds per token of a decode step's projections alone, back to back, as the eager runner runs them:
    what it pays before norms, RoPE, attention, sampling or Python."""
    import torch
    from torch import nn

    projections = [m for m in model.modules() if isinstance(m, nn.Linear)]
    inputs = {m.in_features: torch.randn(1, 1, m.in_features) for m in projections}

    @torch.no_grad()
    def step() -> None:
        for m in projections:
            m(inputs[m.in_features])

    step()
    times = []
    for _ in range(32):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def worker_transformers(model_dir: Path, tokens: int) -> dict[str, float]:
    import torch
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    ids = torch.tensor([PROMPT])

    def timed(n: int) -> float:
        started = time.perf_counter()
        with torch.no_grad():
            model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)
        return time.perf_counter() - started

    timed(2)  # warm-up
    return {"tok_s": (tokens - 1) / (timed(tokens) - timed(1))}


def worker_bandwidth() -> dict[str, float]:
    """The fastest of three 512 MB streaming reads: a sum, an fp32 matrix-vector product (which reads its
    matrix once), and the same product split over the threads as the runner splits its own (`cpu.SplitLinear`).
    On some machines one, on others another, gets closest to what the memory delivers; the bound takes the
    fastest, so it is never easier to reach than the hardware allows."""
    import torch

    def rate(fn, nbytes: int) -> float:
        fn()
        times = []
        for _ in range(7):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return nbytes / statistics.median(times) / 1e9

    x = torch.ones(128 * 1024 * 1024)
    w, v = torch.randn(8192, 16384), torch.randn(16384)
    splits = torch.get_num_threads() if 8192 % torch.get_num_threads() == 0 else 1
    blocks, row = w.view(splits, -1, 16384).transpose(1, 2), v.view(1, 1, -1).expand(splits, 1, -1)
    return {
        "gb_s": max(
            rate(x.sum, x.numel() * 4),
            rate(lambda: w @ v, w.numel() * 4),
            rate(lambda: torch.bmm(row, blocks), w.numel() * 4),
        )
    }


def run_worker(*argv: str) -> dict[str, float]:
    # Through a fresh launcher: a child spawned by this process (which wrote the checkpoints) would start with
    # this process's peak RSS as its own (fresh.py).
    out = run_fresh([sys.executable, __file__, "--worker", *argv], timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"worker {argv} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_round(meta: Path, hf: Path, tokens: int) -> dict[str, dict[str, float]]:
    """One measurement of each figure, back to back: this machine's speed drifts over minutes, so a ratio is
    taken within a round and the median is over rounds."""
    return {
        "eager": run_worker("ours", str(meta), str(tokens), "eager"),
        "ours": run_worker("ours", str(meta), str(tokens), "compile"),
        "transformers": run_worker("transformers", str(hf), str(tokens)),
        "bandwidth": run_worker("bandwidth"),
    }


def summarise(shape: str, rounds: list[dict[str, dict[str, float]]]) -> dict[str, float | str]:
    def median(figure: Callable[[dict[str, dict[str, float]]], float]) -> float:
        return statistics.median(figure(r) for r in rounds)

    def bound(r: dict[str, dict[str, float]]) -> float:
        return r["bandwidth"]["gb_s"] * 1e9 / r["ours"]["read_per_token"]

    ours = {k: statistics.median(r["ours"][k] for r in rounds) for k in rounds[0]["ours"]}
    return {
        "shape": shape,
        "weights_mb": ours["weights"] / 1e6,
        "read_mb_per_token": ours["read_per_token"] / 1e6,
        "ours_tok_s": ours["tok_s"],
        "eager_tok_s": median(lambda r: r["eager"]["tok_s"]),
        "linears_only_tok_s": ours["linears_tok_s"],
        "linears_only_vs_transformers": median(lambda r: r["ours"]["linears_tok_s"] / r["transformers"]["tok_s"]),
        "compile_s": ours["compile_s"],
        "transformers_tok_s": median(lambda r: r["transformers"]["tok_s"]),
        "vs_transformers": median(lambda r: r["ours"]["tok_s"] / r["transformers"]["tok_s"]),
        "bandwidth_gb_s": median(lambda r: r["bandwidth"]["gb_s"]),
        "bound_tok_s": median(bound),
        "of_bound": median(lambda r: r["ours"]["tok_s"] / bound(r)),
        "load_rss_ratio": ours["load_rss_ratio"],
        "load_s": ours["load_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--tokens", type=int, default=64, help="tokens generated per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per figure; the median is kept")
    parser.add_argument("--dir", type=Path, default=None, help="where to keep the checkpoints (default: temp)")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.worker:
        kind, *rest = opts.worker
        result = {
            "ours": lambda: worker_ours(Path(rest[0]), int(rest[1]), compile=rest[2] == "compile"),
            "transformers": lambda: worker_transformers(Path(rest[0]), int(rest[1])),
            "bandwidth": worker_bandwidth,
        }[kind]()
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = opts.dir or Path(tmp)
        rows = []
        for shape in opts.shapes:
            run_worker("write", shape, str(root))
            meta, hf = root / f"{shape}-meta", root / f"{shape}-hf"
            tokens = opts.tokens if shape != "1.1B" else max(16, opts.tokens // 2)
            rounds = [measure_round(meta, hf, tokens) for _ in range(opts.repeats)]
            rows.append(summarise(shape, rounds))
            print(json.dumps(rows[-1]), file=sys.stderr)
    print(
        f"CPU decode, fp32, batch 1, greedy, {opts.tokens} tokens, {os.cpu_count()} cores, median of {opts.repeats} "
        "rounds (ratios taken within a round)"
    )
    print("ours = decode with --compile (its one-time compile not counted, shown last); eager = the default")
    print("linears = the step's projections alone, back to back, as the eager runner runs them")
    print(
        f"{'shape':>6} {'MB':>6} {'ours tok/s':>10} {'eager':>7} {'linears':>7} {'HF tok/s':>8} {'x HF':>5} "
        f"{'GB/s':>5} {'bound':>6} {'of bound':>8} {'RSS/weights':>11} {'compile s':>9}"
    )
    for r in rows:
        print(
            f"{r['shape']:>6} {r['weights_mb']:6.0f} {r['ours_tok_s']:10.1f} {r['eager_tok_s']:7.1f} "
            f"{r['linears_only_tok_s']:7.1f} {r['transformers_tok_s']:8.1f} {r['vs_transformers']:5.2f} "
            f"{r['bandwidth_gb_s']:5.1f} {r['bound_tok_s']:6.1f} {r['of_bound']:8.2f} {r['load_rss_ratio']:11.2f} "
            f"{r['compile_s']:9.1f}"
        )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1:3] == ["--worker", "write"]:
        write_checkpoints(sys.argv[3], Path(sys.argv[4]))
        print("{}")
    else:
        main()
