"""What a rank of a torchrun job reads about its own node beyond `check`'s facts: installed library versions,
the interface of the default route, interface addresses, and the md5 of the shards its node's ranks load."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Callable, Optional

from llamadoctor.probes.checksum import HashCache, cache_file, hash_files

# The libraries whose versions a job's ranks should share (distribution names).
PACKAGES = ("torch", "transformers", "accelerate", "safetensors", "sentencepiece", "tiktoken", "fairscale",
            "nvidia-nccl-cu12", "nvidia-nccl-cu11")  # fmt: skip


def installed_versions(names: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Distribution -> version, for those this interpreter has installed."""
    from importlib import metadata

    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def default_route_ifname(root: Path = Path("/")) -> Optional[str]:
    """The interface of the default IPv4 route (Linux's /proc/net/route); None elsewhere or without one."""
    try:
        lines = (root / "proc" / "net" / "route").read_text(encoding="ascii", errors="replace").splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            return fields[0]
    return None


def interface_addresses() -> dict[str, tuple[str, ...]]:
    import psutil

    return {
        name: tuple(a.address.split("%")[0] for a in addrs if a.family in (socket.AF_INET, socket.AF_INET6))
        for name, addrs in psutil.net_if_addrs().items()
    }


def shard_md5s(
    folder: Path, names: Sequence[str], progress: Optional[Callable[[int, int], None]] = None
) -> Mapping[str, str]:
    """Shard name -> md5 for the files of `folder` named, hashed in parallel (and remembered for next time)."""
    results = hash_files([folder / n for n in names], cache=HashCache(cache_file()), progress=progress)
    return {path.name: md5 for path, (md5, _, _) in results.items() if md5}


def launcher_argv(pid: Optional[int] = None, root: Path = Path("/")) -> Optional[list[str]]:
    """The command line of the process that started this one (torchrun's agent, for a rank): Linux's
    /proc/<pid>/cmdline, psutil elsewhere; None when it cannot be read."""
    pid = os.getppid() if pid is None else pid
    try:
        raw = (root / "proc" / str(pid) / "cmdline").read_bytes()
    except OSError:
        return _psutil_cmdline(pid) if root == Path("/") else None
    if not raw:
        return None
    return [part.decode("utf-8", errors="replace") for part in raw.rstrip(b"\0").split(b"\0")]


def _psutil_cmdline(pid: int) -> Optional[list[str]]:
    import psutil

    try:
        return list(psutil.Process(pid).cmdline()) or None
    except (psutil.Error, OSError):
        return None
