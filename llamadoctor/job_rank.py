"""One rank's side of `check --distributed`, without torch: who am I, what do I see, how to launch the job.

The transport (llamadoctor.runner.job_transport) calls these and moves their results between ranks.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Callable, Optional

from llamadoctor.doctor import Diagnosis, validate
from llamadoctor.errors import UsageError
from llamadoctor.facts import Facts
from llamadoctor.files import targets
from llamadoctor.gather import gather
from llamadoctor.job import Identity, RankFacts, Runtime
from llamadoctor.llama.layout import shards_of_rank
from llamadoctor.probes.target import TargetError
from llamadoctor.redact import redact

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR")
# Makes the gathering of the rank named raise: how the tests prove a crashing rank leaves the report intact.
CRASH_SEAM = "LLAMADOCTOR_TEST_CRASH_RANK"
# How often torchrun polls its ranks: older releases default to 5 s, which the end of every job then waits out
QUICK = ("--monitor_interval", "0.1")
LAST_CALL = 30  # seconds an elastic launch waits for more nodes once the first has come (torchrun's default)


def under_torchrun(env: Mapping[str, str]) -> bool:
    return all(env.get(name) for name in TORCHRUN_VARS)


def launch_hint(argv: Sequence[str], nproc: Optional[int]) -> str:
    """The torchrun command that runs this very `check --distributed` on one node, the user's options kept."""
    per_node = str(nproc) if nproc else "gpu"
    command = ["torchrun", "--nnodes", "1", "--nproc_per_node", per_node, *QUICK, "-m", "llamadoctor", *argv]
    return redact(shlex.join(command))


def nodes_hint(argv: Sequence[str], nproc: Optional[int], nodes: Optional[int] = None) -> str:
    """The torchrun command to run on each machine of a job of several: an elastic launch of 1 to N nodes starts
    when the last node arrives, or when its rendezvous window closes without one, so a node that never starts is
    reported by rank 0 instead of holding every other launcher in the rendezvous."""
    per_node = str(nproc) if nproc else "gpu"
    command = ["torchrun", "--nnodes", f"1:{nodes or 'NODES'}", "--nproc_per_node", per_node,
               "--rdzv-backend", "c10d", "--rdzv-endpoint", "HEAD:29500", "--rdzv-id", "llamadoctor",
               "--rdzv-conf", f"last_call_timeout={LAST_CALL}", *QUICK, "-m", "llamadoctor", *argv]  # fmt: skip
    return redact(shlex.join(command))


def identity(env: Mapping[str, str]) -> Identity:
    """This rank's place in the job, from the variables torchrun sets."""
    rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
    local_world = int(env.get("LOCAL_WORLD_SIZE", world))
    return Identity(
        rank=rank,
        world=world,
        local_rank=int(env.get("LOCAL_RANK", rank)),
        local_world=local_world,
        node=int(env.get("GROUP_RANK", rank // max(1, local_world))),
        hostname=socket.gethostname(),
    )


def _facts(diagnosis: Diagnosis, me: Identity, progress: Optional[Callable[[int, int], None]]) -> Facts:
    if me.local_rank != 0:  # the node's first rank verifies its checksums; the others would repeat it
        diagnosis = dataclasses.replace(diagnosis, options=dataclasses.replace(diagnosis.options, no_hash=True))
    try:
        facts = gather(validate(diagnosis), hash_progress=progress)
    except TargetError as exc:
        raise UsageError(f"--python: {exc}") from None
    # torchrun's own store listens on MASTER_PORT: inside the job that port is taken by design.
    return dataclasses.replace(facts, network=dataclasses.replace(facts.network, master_port_in_use=None))


def node_shards(facts: Facts, me: Identity) -> tuple[Optional[Path], list[str]]:
    """The model folder and the weight files this node's ranks load, to hash once for the node."""
    runs = targets(facts.models)
    if not runs or not runs[0].shards:
        return None, []
    model = runs[0]
    metas = sorted(s.name for s in model.meta_shards)
    if not metas:
        return Path(model.path), sorted(s.name for s in model.shards)
    first = me.node * me.local_world
    wanted = {i for r in range(first, first + me.local_world) for i in shards_of_rank(len(metas), me.world, r)}
    return Path(model.path), [f"consolidated.{i:02d}.pth" for i in sorted(wanted) if i < len(metas)]


def gather_rank(
    diagnosis: Diagnosis,
    me: Identity,
    *,
    hash_shards: bool = False,
    env: Mapping[str, str] = os.environ,
    progress: Optional[Callable[[int, int], None]] = None,
) -> RankFacts:
    """This rank's facts; whatever gathering raises becomes this rank's crash, for rank 0 to report. `progress`
    is called as checksums are computed, so a long hash reads as work, not silence."""
    from llamadoctor.probes import job as probe

    started = time.perf_counter()
    try:
        if env.get(CRASH_SEAM) == str(me.rank):
            raise OSError(f"gathering failed on purpose ({CRASH_SEAM}={me.rank})")
        facts = _facts(diagnosis, me, progress)
        hashes: Mapping[str, str] = {}
        if hash_shards and me.local_rank == 0:
            folder, names = node_shards(facts, me)
            hashes = probe.shard_md5s(folder, names, progress) if folder else {}
        runtime = Runtime(
            packages=probe.installed_versions(),
            socket_ifnames={n: env[n] for n in ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME") if env.get(n)},
            default_route_ifname=probe.default_route_ifname(),
            interface_addresses=probe.interface_addresses(),
            shard_md5=hashes,
        )
    except Exception as exc:
        return RankFacts(me, crash=redact(f"{type(exc).__name__}: {exc}"), seconds=time.perf_counter() - started)
    return RankFacts(me, facts, runtime, seconds=time.perf_counter() - started)
