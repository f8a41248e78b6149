"""Which kernel `run --quantize` and `--dtype bf16` use on the CPU: one decode row (a 1 x K activation) through the
projections of the 1.1B (dim 2048) and 7B (dim 4096) shapes, 2 threads, medians of alternating rounds.

    python benchmarks/bench_quant_kernels.py                     # both shapes, 5 rounds
    python benchmarks/bench_quant_kernels.py --dims 4096 --rounds 3

Each candidate is timed over one layer's seven projections back to back (the work of one decode step per layer):
- fp32 / bf16: the unquantized product (`F.linear`), the baseline;
- bf16 fbgemm fp16: `cpu.HalfLinear`, what a bf16 run uses on x86 (the same values, fbgemm's fp16 product);
- int8 kernel: torch's `_weight_int8pack_mm` (per-output-channel scales), activations fp32 or bf16;
- int8 dequant (--fallbacks): the fallback, the weight cast to the activation's dtype per call, then scaled;
- int8 fbgemm: `QuantLinear` on `quantized::linear_dynamic`, what `--quantize int8` uses on x86 (activations
  quantized to 7 bits per row for each product);
- int4 kernel: `_weight_int4pack_mm_for_cpu` at groups 32, 64 and 128, bf16 activations;
- int4 dequant (--fallbacks): the fallback.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# dim, FFN width, KV width (wk, wv): TinyLlama-1.1B and Llama 2 7B
SHAPES = {2048: (2048, 5632, 256), 4096: (4096, 11008, 4096)}


def _projections(dim: int) -> list[tuple[int, int]]:
    d, hidden, kv = SHAPES[dim]
    return [(d, d), (kv, d), (kv, d), (d, d), (hidden, d), (hidden, d), (d, hidden)]


def _candidates(dim: int, fallbacks: bool) -> dict[str, Callable[[], object]]:
    import torch
    import torch.nn.functional as F

    from llamadoctor.runner import cpu
    from llamadoctor.runner import quantize as qz

    torch.manual_seed(0)
    weights = [torch.randn(n, k) * 0.02 for n, k in _projections(dim)]
    x32 = {k: torch.randn(1, k) for k in {w.shape[1] for w in weights}}
    x16 = {k: v.bfloat16() for k, v in x32.items()}
    out: dict[str, Callable[[], object]] = {}
    w16 = [w.bfloat16() for w in weights]
    out["fp32"] = lambda: [F.linear(x32[w.shape[1]], w) for w in weights]
    out["bf16"] = lambda: [F.linear(x16[w.shape[1]], w) for w in w16]
    int8 = [(qw.qweight, qw.scales) for qw in map(qz.quantize_int8, weights)]
    if qz.has_int8_kernel():
        out["int8 kernel, fp32 rows"] = lambda: [
            torch.ops.aten._weight_int8pack_mm(x32[q.shape[1]], q, s) for q, s in int8
        ]
        s16 = [s.bfloat16() for _, s in int8]
        out["int8 kernel, bf16 rows"] = lambda: [
            torch.ops.aten._weight_int8pack_mm(x16[q.shape[1]], q, s) for (q, _), s in zip(int8, s16)
        ]
    if fallbacks:
        out["int8 dequant"] = lambda: [F.linear(x32[q.shape[1]], q.to(torch.float32)) * s for q, s in int8]
    if qz.dynamic_int8_works():
        dynamic = [qz.QuantLinear.from_float(w, "int8") for w in weights]
        out["int8 fbgemm (int8 rows)"] = lambda: [m(x32[m.in_features]) for m in dynamic]
    if cpu.half_kernel_works():
        half = [cpu.HalfLinear(w, torch.bfloat16) for w in w16]
        out["bf16 fbgemm fp16"] = lambda: [m(x16[m.in_features]) for m in half]
    for group in (32, 64, 128):
        layers = [qz.QuantLinear.from_float(w, "int4", group) for w in weights]
        out[f"int4 g{group} ({layers[0].kernel})"] = lambda layers=layers: [m(x32[m.in_features]) for m in layers]
    if fallbacks:
        fallback = [qz.QuantLinear.from_float(w, "int4", 32, use_kernel=False) for w in weights]
        out["int4 g32 dequant"] = lambda: [m(x32[m.in_features]) for m in fallback]
    return out


def _time(fn: Callable[[], object], calls: int = 5) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", type=int, nargs="+", default=[2048, 4096], choices=sorted(SHAPES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fallbacks", action="store_true", help="also time the dequantizing fallbacks (slow)")
    opts = parser.parse_args()
    torch.set_num_threads(opts.threads)
    print(f"torch {torch.__version__}, {opts.threads} threads; ms per layer's 7 projections, one decode row")
    for dim in opts.dims:
        cands = _candidates(dim, opts.fallbacks)
        times: dict[str, list[float]] = {name: [] for name in cands}
        with torch.inference_mode():
            for _ in range(opts.rounds):
                for name, fn in cands.items():
                    times[name].append(_time(fn))
        base = statistics.median(times["fp32"])
        print(f"\ndim {dim}:")
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"  {name:28s} {med * 1e3:8.2f} ms   {base / med:5.2f}x fp32")


if __name__ == "__main__":
    main()
