"""NVIDIA GPUs through NVML (nvidia-ml-py), falling back to nvidia-smi. Seams: `nvml` module and `run`."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

from llamadoctor.facts import Gpu, GpuInfo
from llamadoctor.probes.proc import Run, output, run

_SMI_FIELDS = "index,name,memory.total,memory.free,compute_cap,driver_version,uuid"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def cuda_version_from_int(value: int) -> str:
    """NVML's 12020 -> "12.2"."""
    return f"{value // 1000}.{(value % 1000) // 10}"


def probe_nvml(nvml: ModuleType) -> GpuInfo:
    """Raises whatever NVML raises when there is no driver; the caller decides what that means."""
    nvml.nvmlInit()
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        try:
            driver_cuda: Optional[str] = cuda_version_from_int(int(nvml.nvmlSystemGetCudaDriverVersion()))
        except Exception:
            driver_cuda = None
        gpus = []
        for index in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            mem = nvml.nvmlDeviceGetMemoryInfo(handle)
            try:
                cc: Optional[tuple[int, int]] = tuple(nvml.nvmlDeviceGetCudaComputeCapability(handle))  # type: ignore[assignment]
            except Exception:
                cc = None
            try:
                uuid = _text(nvml.nvmlDeviceGetUUID(handle))
            except Exception:
                uuid = ""
            gpus.append(Gpu(index, _text(nvml.nvmlDeviceGetName(handle)), int(mem.total), int(mem.free), cc, uuid))
        return GpuInfo(tuple(gpus), driver, driver_cuda, "nvml")
    finally:
        with contextlib.suppress(Exception):  # shutting down a library that is going away anyway
            nvml.nvmlShutdown()


def parse_smi_csv(text: str) -> tuple[tuple[Gpu, ...], Optional[str]]:
    gpus, driver = [], None
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 7:
            continue
        index, name, total, free, cap, driver, uuid = parts[:7]
        try:
            major, minor = (int(x) for x in cap.split("."))
            cc: Optional[tuple[int, int]] = (major, minor)
        except ValueError:
            cc = None
        try:
            gpus.append(Gpu(int(index), name, int(float(total)) * 2**20, int(float(free)) * 2**20, cc, uuid))
        except ValueError:
            continue
    return tuple(gpus), driver


def parse_smi_cuda(text: str) -> Optional[str]:
    import re

    match = re.search(r"CUDA Version:\s*([0-9]+\.[0-9]+)", text)
    return match.group(1) if match else None


def probe_smi(runner: Run = run, timeout: float = 10.0) -> GpuInfo:
    csv = output(["nvidia-smi", f"--query-gpu={_SMI_FIELDS}", "--format=csv,noheader,nounits"], timeout, runner)
    if csv is None:
        return GpuInfo(source="none")
    gpus, driver = parse_smi_csv(csv)
    banner = output(["nvidia-smi"], timeout, runner) or ""
    return GpuInfo(gpus, driver, parse_smi_cuda(banner), "nvidia-smi")


def nvidia_driver_present(os_name: str, root: Path = Path("/")) -> bool:
    """Whether an NVIDIA driver is installed at all: a cheap look before loading NVML through ctypes."""
    if os_name == "linux":
        return any(
            (root / p).exists()
            for p in (
                "proc/driver/nvidia/version",  # the kernel module is loaded
                "usr/lib/wsl/lib/libnvidia-ml.so.1",  # WSL2: the Windows driver's user-space libraries
            )
        )
    if os_name == "windows":
        system_root = Path(os.environ.get("SYSTEMROOT", r"C:\Windows"))
        return (system_root / "System32" / "nvml.dll").exists() or shutil.which("nvidia-smi") is not None
    return False


def probe_gpus(
    *,
    os_name: str,
    hardware_arm64: bool,
    nvml: Optional[ModuleType] = None,
    runner: Run = run,
    has_smi: bool = True,
    root: Optional[Path] = None,
) -> GpuInfo:
    if os_name == "darwin":  # no NVIDIA on any supported Mac; Apple Silicon's GPU is reached through MPS
        return GpuInfo(apple_silicon=hardware_arm64)
    if nvml is None and root is not None and not nvidia_driver_present(os_name, root):
        return GpuInfo(source="none", error="no NVIDIA driver is installed")
    if nvml is None:
        try:
            import pynvml as nvml  # type: ignore[no-redef]
        except ImportError:
            nvml = None
    nvml_error = None
    if nvml is not None:
        try:
            return probe_nvml(nvml)
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
            nvml_error = f"{type(exc).__name__}: {exc}"
    if has_smi:
        info = probe_smi(runner)
        if info.gpus:
            return info
    return GpuInfo(source="none", error=nvml_error)
