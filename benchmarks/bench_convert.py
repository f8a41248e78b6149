"""Meta -> HF conversion: `llamadoctor convert` against transformers' `convert_llama_weights_to_hf.py`.

One command:

    python benchmarks/bench_convert.py --peer-python /work/venv-tf446/bin/python

The peer is transformers 4.x's script (5.x wheels no longer ship it), in a venv of its own:

    python3 -m venv /work/venv-tf446
    /work/venv-tf446/bin/pip install torch==2.13.0 transformers==4.46.3 sentencepiece protobuf accelerate

Random bf16 checkpoints with a 32000-piece SentencePiece tokenizer are generated once (streamed to disk, one
tensor at a time) into --cache, outside the repository, and reused. Shapes: TinyLlama-1.1B (dim 2048, 22 layers,
32 heads, 4 kv heads, ffn 5632) and Llama 2 7B (dim 4096, 32 layers, 32 heads, ffn 11008). Each converter runs
in its own process; peak RSS is that process's ru_maxrss (os.wait4), time is wall time. Runs alternate
(peer, ours, peer, ours, ...) so both see the same page cache; medians are reported with the spread. Both
outputs are compared tensor by tensor. The peer runs on the 7B shape only if its peak on the small shape,
scaled to 7B, fits in this machine's RAM. `--cleanup` deletes the cache afterwards.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from fresh import run_fresh  # beside this script: python puts its folder on sys.path

from llamadoctor.runner.conversion.writers import TensorSpec, TorchWriter

SHAPES = {
    "tinyllama": {"dim": 2048, "n_layers": 22, "n_heads": 32, "n_kv_heads": 4, "multiple_of": 256},
    "7b": {"dim": 4096, "n_layers": 32, "n_heads": 32, "multiple_of": 256},
}
VOCAB = 32000
PEER_MODULE = "transformers.models.llama.convert_llama_weights_to_hf"


def _sentencepiece(path: Path) -> None:
    import sentencepiece as spm

    rng = random.Random(0)
    syllables = [a + b for a in "bcdfghjklmnprstvwz" for b in "aeiou"] + list("aeiou")
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(60000)]
    lines = [" ".join(rng.choice(words) for _ in range(20)) for _ in range(30000)]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=VOCAB, model_type="bpe", unk_id=0,
        bos_id=1, eos_id=2, pad_id=-1, byte_fallback=True, character_coverage=1.0, minloglevel=2,
        num_threads=2, normalization_rule_name="identity", remove_extra_whitespaces=False, split_digits=True,
    )  # fmt: skip
    path.write_bytes(model.getvalue())


def make_checkpoint(folder: Path, shape: dict[str, int]) -> Path:
    """consolidated.00.pth + params.json + tokenizer.model, random bf16, written one tensor at a time."""
    if (folder / "params.json").is_file():
        return folder
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    dim, layers, heads = shape["dim"], shape["n_layers"], shape["n_heads"]
    kv = shape.get("n_kv_heads", heads)
    hd = dim // heads
    hidden = shape["multiple_of"] * -(-int(2 * 4 * dim / 3) // shape["multiple_of"])
    shapes: dict[str, tuple[int, ...]] = {"tok_embeddings.weight": (VOCAB, dim)}
    for i in range(layers):
        p = f"layers.{i}."
        shapes |= {
            p + "attention.wq.weight": (heads * hd, dim),
            p + "attention.wk.weight": (kv * hd, dim),
            p + "attention.wv.weight": (kv * hd, dim),
            p + "attention.wo.weight": (dim, heads * hd),
            p + "feed_forward.w1.weight": (hidden, dim),
            p + "feed_forward.w2.weight": (dim, hidden),
            p + "feed_forward.w3.weight": (hidden, dim),
            p + "attention_norm.weight": (dim,),
            p + "ffn_norm.weight": (dim,),
        }
    shapes |= {"norm.weight": (dim,), "output.weight": (VOCAB, dim), "rope.freqs": (hd // 2,)}
    writer = TorchWriter(tmp / "consolidated.00.pth", [TensorSpec(k, s, torch.bfloat16) for k, s in shapes.items()])
    g = torch.Generator().manual_seed(0)
    for s in shapes.values():
        t = torch.empty(s, dtype=torch.float32).uniform_(-0.05, 0.05, generator=g)
        writer.write((t + 1 if len(s) == 1 else t).to(torch.bfloat16))
    writer.close()
    params = {k: v for k, v in shape.items()} | {"norm_eps": 1e-5, "vocab_size": -1}
    (tmp / "params.json").write_text(json.dumps(params))
    _sentencepiece(tmp / "tokenizer.model")
    tmp.rename(folder)
    return folder


def run_measured(argv: list[str], timeout: float) -> tuple[float, int, int]:
    """(wall seconds, peak RSS bytes, exit code) of one process, launched fresh (see fresh.py)."""
    done = run_fresh(argv, timeout)
    if done.returncode:
        print(f"  failed ({done.returncode}): {' '.join(argv)}\n{done.stderr[-2000:]}", file=sys.stderr)
    return done.seconds, done.peak_rss, done.returncode


def ours_argv(src: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "llamadoctor.runner.conversion.cli", "--model-dir", str(src), "--out", str(out)]


def peer_argv(peer: str, src: Path, out: Path) -> list[str]:
    return [peer, "-m", PEER_MODULE, "--input_dir", str(src), "--model_size", "7B", "--llama_version", "2",
            "--output_dir", str(out)]  # fmt: skip


def same_tensors(a: Path, b: Path) -> tuple[bool, int]:
    """Every tensor of both HF folders equal (names, dtypes, values); the count compared."""
    from safetensors import safe_open

    def index(folder: Path) -> dict[str, Path]:
        out = {}
        for f in sorted(folder.glob("*.safetensors")):
            with safe_open(str(f), framework="pt") as st:
                out |= {k: f for k in st.keys()}  # noqa: SIM118
        return out

    ia, ib = index(a), index(b)
    if set(ia) != set(ib):
        print(f"  names differ: {sorted(set(ia) ^ set(ib))[:5]}", file=sys.stderr)
        return False, 0
    for name in sorted(ia):
        with safe_open(str(ia[name]), framework="pt") as fa, safe_open(str(ib[name]), framework="pt") as fb:
            ta, tb = fa.get_tensor(name), fb.get_tensor(name)
            if ta.dtype != tb.dtype or not torch.equal(ta, tb):
                print(f"  {name} differs ({ta.dtype} vs {tb.dtype})", file=sys.stderr)
                return False, len(ia)
    return True, len(ia)


def _fmt(xs: list[float], unit: str, scale: float) -> str:
    med = statistics.median(xs) / scale
    return f"{med:.2f} {unit} (min {min(xs) / scale:.2f}, max {max(xs) / scale:.2f}, n={len(xs)})"


def bench_shape(name: str, args: argparse.Namespace, peer_ok: bool) -> dict[str, object]:
    src = make_checkpoint(args.cache / name, SHAPES[name])
    size = sum(p.stat().st_size for p in src.glob("*.pth"))
    print(f"{name}: {size / 1e9:.2f} GB checkpoint at {src}")
    runs = args.repeat if name == "tinyllama" else 1
    # Both outputs and the peer's temporary copy at once: 3x the checkpoint beside it.
    compare = shutil.disk_usage(args.cache).free > 3.2 * size
    ours_t, ours_m, peer_t, peer_m = [], [], [], []
    out_ours, out_peer = args.cache / f"{name}-ours", args.cache / f"{name}-peer"
    for i in range(runs):
        if peer_ok:
            shutil.rmtree(out_peer, ignore_errors=True)
            t, m, rc = run_measured(peer_argv(args.peer_python, src, out_peer), args.timeout)
            if rc == 0:
                peer_t.append(t)
                peer_m.append(m)
                print(f"  peer run {i + 1}: {t:.1f} s, peak RSS {m / 1e9:.2f} GB")
            if not compare:  # no room for both outputs: the tensors were compared on the small shape
                shutil.rmtree(out_peer, ignore_errors=True)
        shutil.rmtree(out_ours, ignore_errors=True)
        t, m, rc = run_measured(ours_argv(src, out_ours), args.timeout)
        if rc == 0:
            ours_t.append(t)
            ours_m.append(m)
            print(f"  ours run {i + 1}: {t:.1f} s, peak RSS {m / 1e9:.2f} GB")
    result: dict[str, object] = {"checkpoint_bytes": size, "ours_time": ours_t, "ours_rss": ours_m}
    if peer_t and ours_t:
        equal, count = same_tensors(out_ours, out_peer) if compare else ("not compared (disk)", 0)
        result |= {"peer_time": peer_t, "peer_rss": peer_m, "identical": equal, "tensors": count}
        result["time_ratio"] = statistics.median(ours_t) / statistics.median(peer_t)
        result["rss_ratio"] = statistics.median(ours_m) / statistics.median(peer_m)
    for out in (out_ours, out_peer):
        shutil.rmtree(out, ignore_errors=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer-python", default="/work/venv-tf446/bin/python", help="Python with transformers 4.x")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "llamadoctor-bench-convert")
    parser.add_argument("--shapes", default="tinyllama,7b")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each converter on the TinyLlama shape")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--cleanup", action="store_true", help="delete the generated checkpoints at the end")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    import psutil

    check = subprocess.run([args.peer_python, "-c", f"import {PEER_MODULE}"], capture_output=True, timeout=300)
    has_peer = Path(args.peer_python).exists() and check.returncode == 0
    if not has_peer:
        print(
            f"peer missing: {args.peer_python} cannot import {PEER_MODULE}. Create it with:\n"
            "  python3 -m venv /work/venv-tf446\n"
            "  /work/venv-tf446/bin/pip install torch==2.13.0 transformers==4.46.3 sentencepiece protobuf "
            "accelerate\nthen pass --peer-python /work/venv-tf446/bin/python",
            file=sys.stderr,
        )
    args.cache.mkdir(parents=True, exist_ok=True)
    free, ram = shutil.disk_usage(args.cache).free / 1e9, psutil.virtual_memory().total / 1e9
    print(f"free disk at {args.cache}: {free:.1f} GB; RAM {ram:.1f} GB; {os.cpu_count()} CPUs (shared: noisy)")
    results: dict[str, dict[str, object]] = {}
    peer_per_byte = None
    for name in args.shapes.split(","):
        peer_ok = has_peer
        if name != "tinyllama" and peer_per_byte is not None:
            shape_bytes = _param_bytes(SHAPES[name])
            expected = peer_per_byte * shape_bytes
            # Other people share this machine: leave them room.
            peer_ok = expected < 0.75 * psutil.virtual_memory().available
            room = shutil.disk_usage(args.cache).free > 2.5 * shape_bytes  # its temporary copy + output
            if peer_ok and not room:
                peer_ok = False
                print(f"{name}: skipping the peer, it needs about {2.5 * shape_bytes / 1e9:.0f} GB of free disk")
            if not peer_ok:
                print(f"{name}: skipping the peer, its peak RSS would be about {expected / 1e9:.0f} GB "
                      f"({peer_per_byte:.1f}x the checkpoint, as measured on the small shape)")  # fmt: skip
        results[name] = res = bench_shape(name, args, peer_ok)
        if res.get("peer_rss"):
            peer_per_byte = statistics.median(res["peer_rss"]) / res["checkpoint_bytes"]  # type: ignore[arg-type]
        _report(name, res)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.cleanup:
        shutil.rmtree(args.cache, ignore_errors=True)
    return 0


def _param_bytes(shape: dict[str, int]) -> int:
    dim, layers, heads = shape["dim"], shape["n_layers"], shape["n_heads"]
    kv = shape.get("n_kv_heads", heads)
    hidden = shape["multiple_of"] * -(-int(2 * 4 * dim / 3) // shape["multiple_of"])
    per_layer = 2 * dim * dim + 2 * dim * kv * (dim // heads) + 3 * dim * hidden + 2 * dim
    return 2 * (layers * per_layer + 2 * VOCAB * dim + dim)


def _report(name: str, res: dict[str, object]) -> None:
    print(f"== {name} ({res['checkpoint_bytes'] / 1e9:.2f} GB bf16)")  # type: ignore[operator]
    print(f"  ours: time {_fmt(res['ours_time'], 's', 1)}; peak RSS {_fmt(res['ours_rss'], 'GB', 1e9)}")  # type: ignore[arg-type]
    if "peer_time" in res:
        print(f"  peer: time {_fmt(res['peer_time'], 's', 1)}; peak RSS {_fmt(res['peer_rss'], 'GB', 1e9)}")  # type: ignore[arg-type]
        print(f"  ratio ours/peer: time {res['time_ratio']:.2f}x, peak RSS {res['rss_ratio']:.2f}x; "
              f"identical output tensors: {res['identical']} ({res['tensors']} tensors)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
