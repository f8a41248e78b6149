"""The processor's model and the vector extensions that decide which kernels run fast (or at all) on it.

llama.cpp, bitsandbytes and torch's CPU kernels pick their code paths by these extensions; a maintainer asks for
them first when a CPU build is slow or dies with "Illegal instruction". Linux states them in /proc/cpuinfo,
macOS through sysctl, Windows through IsProcessorFeaturePresent.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Callable, Optional

from llamadoctor.facts import Cpu
from llamadoctor.probes.proc import Run, output, run
from llamadoctor.reading import read_regular

# /proc/cpuinfo flag (x86 "flags", ARM "Features") -> the name people know it by, in the order shown.
_LINUX_FLAGS = (
    ("avx", "AVX"),
    ("avx2", "AVX2"),
    ("fma", "FMA"),
    ("f16c", "F16C"),
    ("avx_vnni", "AVX-VNNI"),
    ("avx512f", "AVX-512F"),
    ("avx512_vnni", "AVX-512 VNNI"),
    ("avx512_bf16", "AVX-512 BF16"),
    ("amx_bf16", "AMX-BF16"),
    ("amx_int8", "AMX-INT8"),
    ("asimd", "NEON"),
    ("asimddp", "DOTPROD"),
    ("asimdhp", "FP16"),
    ("i8mm", "I8MM"),
    ("bf16", "BF16"),
    ("sve", "SVE"),
    ("sve2", "SVE2"),
)
# sysctl name (value 1 when present) -> name; Intel Macs list theirs in machdep.cpu.*features instead.
_MAC_OPTIONAL = (
    ("hw.optional.neon", "NEON"),
    ("hw.optional.arm.FEAT_DotProd", "DOTPROD"),
    ("hw.optional.arm.FEAT_FP16", "FP16"),
    ("hw.optional.arm.FEAT_I8MM", "I8MM"),
    ("hw.optional.arm.FEAT_BF16", "BF16"),
    ("hw.optional.arm.FEAT_SME", "SME"),
)
_MAC_FEATURES = {"AVX1.0": "AVX", "AVX2": "AVX2", "FMA": "FMA", "F16C": "F16C", "AVX512F": "AVX-512F"}
# IsProcessorFeaturePresent's PF_* numbers.
_WINDOWS_FEATURES = ((39, "AVX"), (40, "AVX2"), (41, "AVX-512F"), (19, "NEON"))
_CPUINFO_LIMIT = 4 * 1024 * 1024  # hundreds of cores repeat their block; the first one is enough anyway
_ORDER = {name: n for n, name in enumerate([*(n for _, n in _LINUX_FLAGS), "SME"])}


def _ordered(names: set[str]) -> tuple[str, ...]:
    return tuple(sorted(names, key=lambda n: _ORDER.get(n, len(_ORDER))))


def parse_cpuinfo(text: str) -> Cpu:
    """The first processor's block of /proc/cpuinfo: its model and extensions."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            if fields and not line.strip():
                break  # the end of the first processor's block
            continue
        fields.setdefault(key.strip().lower(), value.strip())
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    model = fields.get("model name") or fields.get("hardware") or fields.get("cpu model") or ""
    found = {name for flag, name in _LINUX_FLAGS if flag in flags}
    return Cpu(model, _ordered(found), "/proc/cpuinfo")


def parse_sysctl(text: str) -> Cpu:
    """`sysctl -a` of a Mac: the brand string, then the Apple Silicon options or the Intel feature lists."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values[key.strip()] = value.strip()
    found = {name for key, name in _MAC_OPTIONAL if values.get(key) == "1"}
    for key in ("machdep.cpu.features", "machdep.cpu.leaf7_features"):
        found |= {_MAC_FEATURES[f] for f in values.get(key, "").split() if f in _MAC_FEATURES}
    return Cpu(values.get("machdep.cpu.brand_string", ""), _ordered(found), "sysctl")


def windows_cpu(
    feature_present: Callable[[int], bool], name_in_registry: Callable[[], Optional[str]], fallback: str = ""
) -> Cpu:
    found = {name for number, name in _WINDOWS_FEATURES if feature_present(number)}
    return Cpu((name_in_registry() or fallback).strip(), _ordered(found), "windows")


def _windows_feature(number: int) -> bool:
    import ctypes

    return bool(ctypes.windll.kernel32.IsProcessorFeaturePresent(number))  # type: ignore[attr-defined]


def _windows_name() -> Optional[str]:
    if sys.platform != "win32":  # winreg exists only there (and type checkers know it)
        return None
    import winreg

    key = r"HARDWARE\DESCRIPTION\System\CentralProcessor\0"
    with contextlib.suppress(OSError), winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key) as handle:
        return str(winreg.QueryValueEx(handle, "ProcessorNameString")[0])
    return None


def probe_cpu(os_name: str, *, runner: Run = run, root: Path = Path("/"), env: Mapping[str, str] = {}) -> Cpu:
    """What the processor is; an empty Cpu when the OS would not say."""
    if os_name == "linux":
        try:
            text = read_regular(root / "proc" / "cpuinfo", _CPUINFO_LIMIT).decode("utf-8", "replace")
        except OSError:
            return Cpu()
        return parse_cpuinfo(text)
    if os_name == "darwin":
        listed = output(["sysctl", "-a"], 5.0, runner)
        return parse_sysctl(listed) if listed else Cpu()
    import platform

    return windows_cpu(_windows_feature, _windows_name, env.get("PROCESSOR_IDENTIFIER") or platform.processor())
