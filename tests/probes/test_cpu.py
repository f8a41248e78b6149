"""The processor's model and vector extensions on each OS, read through the probe's seams."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from llamadoctor.facts import Cpu
from llamadoctor.probes.cpu import parse_cpuinfo, parse_sysctl, probe_cpu, windows_cpu
from llamadoctor.probes.torch_files import torch_from_files

SAPPHIRE_RAPIDS = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse sse2 avx f16c fma avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8

processor\t: 1
model name\t: Some Other CPU
flags\t\t: fpu
"""
GRAVITON = """\
processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimddp sve i8mm bf16 sve2
CPU implementer\t: 0x41
"""
OLD_PENTIUM = "processor\t: 0\nmodel name\t: Intel(R) Pentium(R) CPU G4560\nflags\t: fpu sse sse2 sse4_2\n"


def test_linux_x86_names_the_model_and_the_wide_extensions_of_the_first_processor() -> None:
    cpu = parse_cpuinfo(SAPPHIRE_RAPIDS)
    assert cpu.model == "Intel(R) Xeon(R) Platinum 8480+"
    assert cpu.extensions == ("AVX", "AVX2", "FMA", "F16C", "AVX-512F", "AVX-512 VNNI", "AVX-512 BF16", "AMX-BF16",
                              "AMX-INT8")  # fmt: skip
    assert cpu.source == "/proc/cpuinfo"


def test_linux_arm_reports_neon_and_sve() -> None:
    cpu = parse_cpuinfo(GRAVITON)
    assert cpu.extensions == ("NEON", "DOTPROD", "FP16", "I8MM", "BF16", "SVE", "SVE2")


def test_a_cpu_without_avx_has_no_extensions_to_show() -> None:
    """The machine where llama.cpp's default build dies with "Illegal instruction": it must read as none."""
    assert parse_cpuinfo(OLD_PENTIUM) == Cpu("Intel(R) Pentium(R) CPU G4560", (), "/proc/cpuinfo")


def test_probe_reads_proc_cpuinfo_under_the_given_root(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "cpuinfo").write_text(SAPPHIRE_RAPIDS)
    assert "AMX-INT8" in probe_cpu("linux", root=tmp_path).extensions
    assert probe_cpu("linux", root=tmp_path / "nothing") == Cpu()


APPLE_M2 = """\
machdep.cpu.brand_string: Apple M2 Pro
hw.optional.neon: 1
hw.optional.arm.FEAT_DotProd: 1
hw.optional.arm.FEAT_FP16: 1
hw.optional.arm.FEAT_I8MM: 0
hw.optional.arm.FEAT_BF16: 0
"""
INTEL_MAC = """\
machdep.cpu.brand_string: Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz
machdep.cpu.features: FPU VME SSE SSE2 AVX1.0 FMA F16C
machdep.cpu.leaf7_features: SMEP BMI1 AVX2 BMI2
"""


def test_macs_through_sysctl() -> None:
    assert parse_sysctl(APPLE_M2) == Cpu("Apple M2 Pro", ("NEON", "DOTPROD", "FP16"), "sysctl")
    assert parse_sysctl(INTEL_MAC).extensions == ("AVX", "AVX2", "FMA", "F16C")


def test_darwin_probe_runs_sysctl_with_a_timeout_and_survives_its_absence() -> None:
    calls: list[tuple[Sequence[str], float]] = []

    def fake(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        calls.append((argv, timeout))
        return subprocess.CompletedProcess(argv, 0, APPLE_M2, "")

    def missing(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(argv[0])

    assert probe_cpu("darwin", runner=fake).model == "Apple M2 Pro"
    assert calls == [(["sysctl", "-a"], 5.0)]
    assert probe_cpu("darwin", runner=missing) == Cpu()


def test_windows_asks_the_processor_features_and_the_registry_name() -> None:
    cpu = windows_cpu(lambda n: n in (39, 40), lambda: "AMD Ryzen 7 5800X 8-Core Processor  ")
    assert cpu == Cpu("AMD Ryzen 7 5800X 8-Core Processor", ("AVX", "AVX2"), "windows")
    assert windows_cpu(lambda n: False, lambda: None, "Intel64 Family 6").model == "Intel64 Family 6"


def _torch_dir(tmp_path: Path, libs: Sequence[str]) -> Path:
    torch = tmp_path / "torch"
    (torch / "lib").mkdir(parents=True)
    (torch / "version.py").write_text("__version__ = '2.5.1+cu124'\ncuda = '12.4'\n")
    (torch / "_C.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    for name in libs:
        (torch / "lib" / name).write_bytes(b"")
    return torch


def test_cudnn_shipped_inside_torch_is_named_by_its_major_version(tmp_path: Path) -> None:
    windows = _torch_dir(tmp_path / "w", ["cudnn64_9.dll", "cudnn_ops64_9.dll", "c10.dll"])
    assert torch_from_files(str(windows), os_name="windows", machine="AMD64").cudnn == "9"
    linux = _torch_dir(tmp_path / "l", ["libcudnn.so.8", "libc10.so"])
    assert torch_from_files(str(linux), os_name="linux", machine="x86_64").cudnn == "8"
    pip_wheel = _torch_dir(tmp_path / "p", ["libc10.so"])  # cuDNN comes from the nvidia-cudnn-cu12 distribution
    assert torch_from_files(str(pip_wheel), os_name="linux", machine="x86_64").cudnn is None
