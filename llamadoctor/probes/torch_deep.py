"""`--deep`: import torch in a subprocess of the target interpreter and ask it directly.

A crashing or hanging import takes down only that subprocess; its last error line becomes the finding.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess

from llamadoctor.facts import TorchInfo
from llamadoctor.probes.proc import Run, run

_SCRIPT = r"""
import json, sys
sys.path[:] = [p for p in sys.path if p not in ("",)]
import torch
import torch.distributed as dist
out = {"version": torch.__version__, "cuda": torch.version.cuda, "hip": getattr(torch.version, "hip", None)}
out["cuda_available"] = torch.cuda.is_available()
out["device_count"] = torch.cuda.device_count() if out["cuda_available"] else 0
out["arch_list"] = list(torch.cuda.get_arch_list()) if out["cuda_available"] else []
out["nccl"] = bool(dist.is_available() and dist.is_nccl_available())
out["gloo"] = bool(dist.is_available() and dist.is_gloo_available())
mps = getattr(torch.backends, "mps", None)
out["mps"] = bool(mps and mps.is_built())
out["mps_available"] = bool(mps and mps.is_available())
libuv = None
if dist.is_available():
    try:
        store = dist.TCPStore("127.0.0.1", 0, is_master=True, use_libuv=True, wait_for_workers=False)
        libuv = True
        del store
    except TypeError:
        libuv = False  # torch before 2.2: no libuv backend at all
    except RuntimeError as exc:
        libuv = False if "libuv" in str(exc) else None
out["libuv"] = libuv
device = "cuda" if out["cuda_available"] else ("mps" if out["mps_available"] else "cpu")
a = torch.arange(64 * 64, dtype=torch.float32).reshape(64, 64) / 4096
want = (a @ a).sum().item()
got = (a.to(device) @ a.to(device)).sum().item()
out["matmul_device"] = device
out["matmul_ok"] = abs(got - want) <= 1e-3 * max(1.0, abs(want))
print(json.dumps(out))
"""


def probe_torch_deep(executable: str, fast: TorchInfo, *, runner: Run = run, timeout: float = 120.0) -> TorchInfo:
    """The fast facts, confirmed and completed by importing torch (or the reason it would not import)."""
    if not fast.installed:
        return fast
    try:
        done = runner([executable, "-c", _SCRIPT], timeout)
    except subprocess.TimeoutExpired:
        return dataclasses.replace(fast, deep_error=f"import torch did not finish within {timeout:.0f} s")
    except OSError as exc:
        return dataclasses.replace(fast, deep_error=f"could not start {executable}: {exc}")
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return dataclasses.replace(fast, deep_error=_error_line(done))
    data = json.loads(lines[-1])
    return dataclasses.replace(
        fast,
        version=data["version"],
        cuda=data["cuda"],
        hip=data["hip"],
        nccl=data["nccl"],
        gloo=data["gloo"],
        mps=data["mps"],
        libuv=data["libuv"] if data["libuv"] is not None else fast.libuv,
        arch_list=tuple(data["arch_list"]) or fast.arch_list,
        arch_list_source="torch" if data["arch_list"] else fast.arch_list_source,
        cuda_available=data["cuda_available"],
        device_count=data["device_count"],
        mps_available=data["mps_available"],
        matmul_ok=data["matmul_ok"],
        matmul_device=data["matmul_device"],
        source="import",
    )


def _error_line(done: subprocess.CompletedProcess[str]) -> str:
    if done.returncode < 0:
        return f"import torch crashed the interpreter (signal {-done.returncode})"
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"import torch failed with exit code {done.returncode}"
