"""The GPU probe through its seams: a fake NVML module and a fake nvidia-smi."""

from __future__ import annotations

import subprocess
import types
from collections.abc import Sequence

from llamadoctor.probes.gpu import nvidia_driver_present, parse_smi_csv, probe_gpus

SMI_CSV = "0, NVIDIA GeForce RTX 4070, 12282, 11900, 8.9, 546.33, GPU-1234\n"
SMI_BANNER = "| NVIDIA-SMI 546.33   Driver Version: 546.33   CUDA Version: 12.3     |\n"


class NVMLError(Exception):
    pass


def fake_nvml(*, fail: bool = False) -> types.ModuleType:
    nvml = types.ModuleType("pynvml")

    def init() -> None:
        if fail:
            raise NVMLError("NVML Shared Library Not Found")

    mem = types.SimpleNamespace(total=24 * 2**30, free=23 * 2**30, used=2**30)
    nvml.nvmlInit = init  # type: ignore[attr-defined]
    nvml.nvmlShutdown = lambda: None  # type: ignore[attr-defined]
    nvml.nvmlSystemGetDriverVersion = lambda: b"535.104.05"  # type: ignore[attr-defined]
    nvml.nvmlSystemGetCudaDriverVersion = lambda: 12020  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetCount = lambda: 2  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetName = lambda h: "NVIDIA GeForce RTX 3090" if h == 0 else "Tesla P100-PCIE-16GB"  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetMemoryInfo = lambda h: mem  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetCudaComputeCapability = lambda h: (8, 6) if h == 0 else (6, 0)  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetUUID = lambda h: f"GPU-{h}"  # type: ignore[attr-defined]
    return nvml


def fake_run(outputs: dict[str, str]):  # type: ignore[no-untyped-def]
    def run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        key = argv[1] if len(argv) > 1 else ""
        for prefix, out in outputs.items():
            if key.startswith(prefix) or (prefix == "" and len(argv) == 1):
                return subprocess.CompletedProcess(list(argv), 0, out, "")
        raise FileNotFoundError(argv[0])

    return run


def test_nvml_reports_each_gpu_and_the_drivers_cuda() -> None:
    info = probe_gpus(os_name="linux", hardware_arm64=False, nvml=fake_nvml())
    assert info.source == "nvml" and info.driver_version == "535.104.05" and info.driver_cuda == "12.2"
    assert [(g.name, g.compute_capability) for g in info.gpus] == [
        ("NVIDIA GeForce RTX 3090", (8, 6)),
        ("Tesla P100-PCIE-16GB", (6, 0)),
    ]
    assert info.gpus[0].memory_free == 23 * 2**30


def test_without_nvml_library_nvidia_smi_answers() -> None:
    run = fake_run({"--query-gpu": SMI_CSV, "": SMI_BANNER})
    info = probe_gpus(os_name="windows", hardware_arm64=False, nvml=fake_nvml(fail=True), runner=run)
    assert info.source == "nvidia-smi" and info.driver_cuda == "12.3"
    assert info.gpus[0].name == "NVIDIA GeForce RTX 4070" and info.gpus[0].compute_capability == (8, 9)
    assert info.gpus[0].memory_total == 12282 * 2**20


def test_no_driver_and_no_smi_means_no_gpu_with_the_reason() -> None:
    info = probe_gpus(os_name="linux", hardware_arm64=False, nvml=fake_nvml(fail=True), runner=fake_run({}))
    assert info.gpus == () and info.error is not None and "Not Found" in info.error


def test_macs_have_no_nvidia_but_apple_silicon_has_mps() -> None:
    assert probe_gpus(os_name="darwin", hardware_arm64=True, nvml=fake_nvml()).apple_silicon is True


def test_smi_csv_tolerates_missing_compute_capability() -> None:
    gpus, driver = parse_smi_csv("0, Quadro K620, 2048, 2000, [N/A], 470.82, GPU-9\ngarbage\n")
    assert gpus[0].compute_capability is None and driver == "470.82"


def test_without_a_driver_nvml_is_never_loaded(tmp_path) -> None:  # type: ignore[no-untyped-def]
    info = probe_gpus(os_name="linux", hardware_arm64=False, root=tmp_path, runner=fake_run({}))
    assert info.gpus == () and info.error == "no NVIDIA driver is installed"
    (tmp_path / "usr/lib/wsl/lib").mkdir(parents=True)
    (tmp_path / "usr/lib/wsl/lib/libnvidia-ml.so.1").write_bytes(b"")
    assert nvidia_driver_present("linux", tmp_path)
    (tmp_path / "proc/driver/nvidia").mkdir(parents=True)
    (tmp_path / "proc/driver/nvidia/version").write_text("NVRM version: 535.104.05\n")
    assert nvidia_driver_present("linux", tmp_path)
    assert not nvidia_driver_present("darwin", tmp_path)
