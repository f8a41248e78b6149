"""`run smoke`: is this device's torch stack sound? No download, a few seconds.

A small random GQA Llama runs on the chosen device and dtype; its logits are compared with the same weights
in fp32 on the CPU (tolerance by dtype), then it generates a few dozen tokens greedily for a tokens/s
figure. This catches a broken CUDA/MPS install, a missing kernel image for the GPU, an unsupported dtype or
NaNs.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from llamadoctor.i18n import _
from llamadoctor.runner import cpu
from llamadoctor.runner.args import ModelArgs
from llamadoctor.runner.device import DTYPE_NAMES, pick_device, pick_dtype
from llamadoctor.runner.generate import Generator, Sampling, Timings
from llamadoctor.runner.model import Transformer

# Max |logit difference| relative to the largest reference logit.
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 5e-2, torch.float16: 1e-2}
SMOKE_ARGS = ModelArgs(
    dim=256, n_layers=4, n_heads=8, n_kv_heads=2, vocab_size=2048, multiple_of=64, rope_theta=500000.0
)


def _random_model(device: torch.device, dtype: torch.dtype, seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    model = Transformer(SMOKE_ARGS)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=p.shape[-1] ** -0.5)
    return model.to(device=device, dtype=dtype).eval()


def run_smoke(device_name: str, dtype_name: str, n_tokens: int = 48) -> dict[str, Any]:
    device = pick_device(device_name)
    dtype = pick_dtype(dtype_name, device)
    reference = _random_model(torch.device("cpu"), torch.float32)
    model = _random_model(device, dtype)
    if device.type == "cpu":
        cpu.optimize_for_cpu(model, dtype)  # as a loaded model runs here
    prompt = torch.randint(0, SMOKE_ARGS.vocab_size, (1, 16), generator=torch.Generator().manual_seed(1))
    reference.setup_cache(1, 128)
    model.setup_cache(1, 128)
    expected = reference(prompt, 0, all_logits=True)
    got = model(prompt.to(device), 0, all_logits=True).cpu()
    finite = bool(torch.isfinite(got).all())
    rel = float((got - expected).abs().max() / expected.abs().max()) if finite else float("inf")
    tolerance = TOLERANCE[dtype]

    generator = Generator(model, 1, 16 + n_tokens + 1, frozenset())
    timings = Timings()
    started = time.perf_counter()
    out = generator.generate([prompt[0].tolist()], Sampling(max_gen_len=n_tokens, temperature=0.0), timings)
    elapsed = time.perf_counter() - started
    return {
        "ok": finite and rel <= tolerance and len(out[0]) == n_tokens,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
        "dtype": DTYPE_NAMES[dtype],
        "torch": torch.__version__,
        "logits_finite": finite,
        "max_rel_diff": rel,
        "tolerance": tolerance,
        "tokens": len(out[0]),
        "tok_s": round(timings.decode_tok_s, 1),
        "seconds": round(elapsed, 3),
    }


def format_report(r: dict[str, Any], quiet: bool = False) -> str:
    """The verdict line, then the figures behind it (`quiet`: those only when the test failed)."""
    verdict = (
        _("smoke OK: {name} ({device}), {dtype}, torch {torch}")
        if r["ok"]
        else _("smoke FAILED: {name} ({device}), {dtype}, torch {torch}")
    )
    lines = [verdict.format(name=r["device_name"], device=r["device"], dtype=r["dtype"], torch=r["torch"])]
    if quiet and r["ok"]:
        return lines[0]
    if r["logits_finite"]:
        logits = _("  logits vs fp32 CPU: max relative diff {diff} (tolerance {tolerance})")
    else:
        logits = _("  logits vs fp32 CPU: max relative diff {diff} (tolerance {tolerance}), NaN/inf in logits")
    lines.append(logits.format(diff=f"{r['max_rel_diff']:.2e}", tolerance=f"{r['tolerance']:.0e}"))
    lines.append(_("  generated {tokens} tokens at {speed} tok/s").format(tokens=r["tokens"], speed=r["tok_s"]))
    return "\n".join(lines)
