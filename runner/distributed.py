"""Model parallelism without fairscale: which rank am I, and the two collectives the model needs.

A single process (no RANK/WORLD_SIZE in the environment) never creates a process group, so `run` works without
torchrun on every OS. Under torchrun the backend is NCCL when the device is CUDA and NCCL is built in, gloo
otherwise (macOS, Windows, CPU).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Parallel:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_parallel(self) -> bool:
        return self.world > 1

    def all_reduce(self, x: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            dist.all_reduce(x)
        return x

    def all_gather_last(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenate every rank's `x` along the last dim (column-parallel outputs)."""
        if self.world == 1:
            return x
        parts = [torch.empty_like(x) for _ in range(self.world)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim=-1)


SINGLE = Parallel()


def from_env(env: Mapping[str, str]) -> Parallel:
    """The rank layout torchrun describes in the environment; a single process when it is absent."""
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return SINGLE
    rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
    return Parallel(rank=rank, world=world, local_rank=int(env.get("LOCAL_RANK", rank)))


def backend_for(device_type: str) -> str:
    nccl = dist.is_available() and getattr(dist, "is_nccl_available", lambda: False)()
    return "nccl" if device_type == "cuda" and nccl else "gloo"


def init(par: Parallel, device_type: str) -> None:
    """Join torchrun's process group once; no-op for a single process."""
    if not par.is_parallel or dist.is_initialized():
        return
    # torchrun always sets these; a hand-made launch with only RANK/WORLD_SIZE gets the one-node defaults.
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29500")
    backend = backend_for(device_type)
    if backend == "gloo":
        os.environ.update(gloo_loopback_env(os.environ, _interfaces()))
    dist.init_process_group(backend=backend, rank=par.rank, world_size=par.world)


def gloo_loopback_env(env: Mapping[str, str], interfaces: Mapping[str, list[str]]) -> dict[str, str]:
    """GLOO_SOCKET_IFNAME for a one-node gloo run: the loopback interface.

    gloo otherwise binds to whatever the hostname resolves to, which on Windows (and some Macs) is an address it
    cannot use: `makeDeviceForHostname(): unsupported gloo device`. Only when every rank is on this machine
    (MASTER_ADDR is loopback, all ranks local) and the user chose nothing: a multi-node run needs a real NIC.
    """
    if "GLOO_SOCKET_IFNAME" in env or not _is_loopback(env.get("MASTER_ADDR", "")):
        return {}
    if env.get("LOCAL_WORLD_SIZE", env.get("WORLD_SIZE")) != env.get("WORLD_SIZE"):
        return {}
    names = [name for name, addresses in interfaces.items() if "127.0.0.1" in addresses]
    return {"GLOO_SOCKET_IFNAME": names[0]} if names else {}


def _is_loopback(host: str) -> bool:
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _interfaces() -> dict[str, list[str]]:
    """Interface name -> its IPv4 addresses (psutil: the same call on all three OSes)."""
    import socket

    import psutil

    return {
        name: [a.address for a in addrs if a.family == socket.AF_INET] for name, addrs in psutil.net_if_addrs().items()
    }


def broadcast_object(par: Parallel, obj: object) -> object:
    """Rank 0's value on every rank (e.g. a sampled token, an interactive prompt)."""
    if not par.is_parallel:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shutdown(par: Parallel) -> None:
    if par.is_parallel and dist.is_initialized():
        dist.destroy_process_group()
