"""WSL's own limits: the memory cap in the Windows user's .wslconfig and where libcuda comes from.

Seams: `root` (the file system, `/` outside tests) and `environ`. Nothing runs: everything is read from files,
so the probe costs a few stat calls and one small file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

from llamadoctor.facts import HostLimits

__all__ = ["HostLimits", "parse_size", "parse_wslconfig", "probe_host_limits"]

WSL_LIB = "usr/lib/wsl/lib"
# Where a Linux NVIDIA driver installed inside the distribution puts its libcuda.
LINUX_DRIVER_DIRS = ("usr/lib/x86_64-linux-gnu", "usr/lib/aarch64-linux-gnu", "usr/lib64", "usr/lib")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> Optional[int]:
    """WSL's sizes: "8GB", "4096MB", "0.5TB" (binary units, as WSL reads them); None if unreadable."""
    match = _SIZE.match(text)
    if not match:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_wslconfig(text: str) -> tuple[Optional[int], Optional[int]]:
    """(memory, swap) of the [wsl2] section, in bytes; None where unset or unreadable."""
    section, values = "", {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
        elif "=" in line and section == "wsl2":
            key, value = (part.strip() for part in line.split("=", 1))
            values[key.lower()] = value.strip("\"'")
    memory = parse_size(values["memory"]) if "memory" in values else None
    swap = parse_size(values["swap"]) if "swap" in values else None
    return memory, swap


def _shown(path: Path, root: Path) -> str:
    """The path as the described machine names it: `root` stands for `/`."""
    return "/" + path.relative_to(root).as_posix()


def find_wslconfig(environ: Mapping[str, str], root: Path) -> Optional[Path]:
    """The Windows user's .wslconfig seen through /mnt/c; with several users, the one named like this one."""
    users = root / "mnt" / "c" / "Users"
    try:
        found = sorted(users.glob("*/.wslconfig"))
    except OSError:
        return None
    if len(found) == 1:
        return found[0]
    me = environ.get("USER", "").lower()
    named = [p for p in found if p.parent.name.lower() == me]
    return named[0] if named else None


def _libcuda(directory: Path) -> list[Path]:
    try:
        return sorted(directory.glob("libcuda.so*"))
    except OSError:
        return []


def _other_libcuda(ld_path: tuple[str, ...], root: Path) -> tuple[str, ...]:
    dirs = [root / d.lstrip("/") for d in ld_path if d and d.rstrip("/") != "/" + WSL_LIB]
    dirs += [root / d for d in LINUX_DRIVER_DIRS]
    seen: dict[str, None] = {}
    wsl_lib = (root / WSL_LIB).resolve()
    for directory in dirs:
        for lib in _libcuda(directory):
            # A link into /usr/lib/wsl/lib is the Windows driver's library under another name: no shadow.
            if wsl_lib not in lib.resolve().parents:
                seen.setdefault(_shown(lib, root), None)
    return tuple(seen)


def probe_host_limits(*, wsl: bool, environ: Mapping[str, str], root: Path = Path("/")) -> HostLimits:
    if not wsl:
        return HostLimits()
    ld_path = tuple(p for p in environ.get("LD_LIBRARY_PATH", "").split(":") if p)
    config = find_wslconfig(environ, root)
    memory = swap = None
    if config is not None:
        try:
            memory, swap = parse_wslconfig(config.read_text(encoding="utf-8", errors="replace")[:65536])
        except OSError:
            config = None
    return HostLimits(
        wslconfig=_shown(config, root) if config is not None else None,
        wsl_memory=memory,
        wsl_swap=swap,
        wsl_libcuda=tuple(_shown(p, root) for p in _libcuda(root / WSL_LIB)),
        other_libcuda=_other_libcuda(ld_path, root),
        ld_library_path=ld_path,
    )
