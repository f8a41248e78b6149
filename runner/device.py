"""Which device and dtype to run on, and a tiny probe that the pair actually works.

The default dtype per device is the shared model of Llama's rule (`llamadoctor.llama.default_dtype`, which
`check` and `estimate` use too): bf16 from CUDA compute capability 8.0, fp16 before it; bf16 on MPS where the
OS and torch support it, else fp16 (the same size); fp32 on the CPU, bf16 on request.
"""

from __future__ import annotations

import torch

from llamadoctor.i18n import _
from llamadoctor.llama import default_dtype
from llamadoctor.runner.errors import RunError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


def mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def pick_device(requested: str, local_rank: int = 0) -> torch.device:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu"
    if requested == "cuda":
        if not torch.cuda.is_available():
            if torch.version.cuda is None:
                message = _("--device cuda but torch {version} sees no CUDA GPU (a CPU-only build)")
            else:
                message = _("--device cuda but torch {version} sees no CUDA GPU (built for CUDA {cuda})")
            raise RunError(
                message.format(version=torch.__version__, cuda=torch.version.cuda),
                _("run `llamadoctor check` for the cause, or use --device cpu"),
            )
        if local_rank >= torch.cuda.device_count():
            raise RunError(
                _("rank {rank} needs GPU {rank} but only {count} are visible").format(
                    rank=local_rank, count=torch.cuda.device_count()
                ),
                _("lower --nproc_per_node to the number of GPUs"),
            )
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    if requested == "mps":
        if not mps_available():
            raise RunError(
                _("--device mps but MPS is not available"),
                _("needs Apple Silicon and macOS 12.3+; use --device cpu"),
            )
        return torch.device("mps")
    if requested == "cpu":
        return torch.device("cpu")
    raise RunError(
        _("unknown device {device}").format(device=repr(requested)), _("use --device auto, cuda, mps or cpu")
    )


def pick_dtype(requested: str, device: torch.device) -> torch.dtype:
    if requested != "auto":
        if requested not in DTYPES:
            raise RunError(
                _("unknown dtype {dtype}").format(dtype=repr(requested)), _("use --dtype auto, bf16, fp16 or fp32")
            )
        dtype = DTYPES[requested]
    elif device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        dtype = DTYPES[default_dtype("cuda", (major, minor))]
    elif device.type == "mps":
        dtype = DTYPES[default_dtype("mps")] if _works(device, torch.bfloat16) else torch.float16
    else:
        dtype = DTYPES[default_dtype(device.type)]
    if not _works(device, dtype):
        raise RunError(
            _("{dtype} matmul does not run on {device} with torch {version}").format(
                dtype=DTYPE_NAMES[dtype], device=device, version=torch.__version__
            ),
            _("pick another --dtype (fp32 always works on CPU)"),
        )
    return dtype


def _works(device: torch.device, dtype: torch.dtype) -> bool:
    """A 2x2 matmul in this dtype: catches `addmm_impl_cpu_ not implemented for 'Half'`, missing kernels."""
    try:
        x = torch.ones(2, 2, device=device, dtype=dtype)
        return bool(torch.isfinite((x @ x).float()).all().item())
    except (RuntimeError, TypeError):
        return False


def peak_memory_bytes(device: torch.device) -> int:
    """Peak memory of this process: device memory on CUDA/MPS, resident set on CPU."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    if device.type == "mps" and hasattr(torch, "mps") and hasattr(torch.mps, "driver_allocated_memory"):
        return int(torch.mps.driver_allocated_memory())
    return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """This process's peak resident set. On Linux VmHWM, not ru_maxrss: ru_maxrss starts from the peak of
    the process that spawned us (exec keeps it), so a run started from a big process would report that."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB on Linux
    except ImportError:  # Windows
        import psutil

        return int(getattr(psutil.Process().memory_info(), "peak_wset", 0))
