"""Whole torchrun jobs built on any machine: the examples the cross-rank checks are tested against.

job = gpu_job(nodes=2, per_node=2)                       # healthy: 2 nodes of 2 ranks, one GPU each
job = gpu_job(node_facts={1: linux_gpu(torch=torch_info("2.1.0", cuda="11.8"))})
job = with_runtime(gpu_job(), 3, packages={"torch": "2.1.0"})
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Optional

from llamadoctor.facts import Facts, Gpu, Network
from llamadoctor.job import Collective, Identity, JobFacts, RankFacts, Runtime
from llamadoctor.testing import GiB, linux_cpu, linux_gpu, nvidia

PACKAGES = {"torch": "2.3.1+cu121", "transformers": "4.44.2"}
ROUTES = {"eth0": ("10.0.0.7",), "lo": ("127.0.0.1",)}


def node_gpus(node: int, count: int, *, free_gib: float = 23.5) -> tuple[Gpu, ...]:
    name = "NVIDIA A100-SXM4-80GB" if free_gib > 24 else "NVIDIA GeForce RTX 3090"
    return tuple(
        Gpu(i, name, int(max(24, free_gib + 1) * GiB),
            int(free_gib * GiB), (8, 0), f"GPU-{node:02d}{i:02d}aaaa-0000-0000-0000-000000000000")
        for i in range(count)
    )  # fmt: skip


def runtime(node: int, **changes: Any) -> Runtime:
    fields: dict[str, Any] = {
        "packages": dict(PACKAGES),
        "nccl": "2.18.1",
        "default_route_ifname": "eth0",
        "interface_addresses": {"eth0": (f"10.0.0.{7 + node}",), "lo": ("127.0.0.1",)},
    }
    fields.update(changes)
    return Runtime(**fields)


def _env(node: int, local: int, per_node: int, world: int, extra: Mapping[str, str]) -> dict[str, str]:
    env = {
        "RANK": str(node * per_node + local),
        "WORLD_SIZE": str(world),
        "LOCAL_RANK": str(local),
        "LOCAL_WORLD_SIZE": str(per_node),
        "MASTER_ADDR": "10.0.0.7",
        "MASTER_PORT": "29500",
    }
    env.update(extra)
    return env


def gpu_job(
    nodes: int = 2,
    per_node: int = 2,
    *,
    node_facts: Optional[Mapping[int, Facts]] = None,
    gpu: bool = True,
    env: Optional[Mapping[str, str]] = None,
    **job: Any,
) -> JobFacts:
    """A healthy job: `nodes` machines (ada-0, ada-1, ...) of `per_node` ranks, each rank on its own GPU."""
    world = nodes * per_node
    ranks = []
    for node in range(nodes):
        base = (node_facts or {}).get(node) or (
            linux_gpu(gpu=nvidia(*node_gpus(node, per_node))) if gpu else linux_cpu()
        )
        host = f"ada-{node}"
        for local in range(per_node):
            facts = dataclasses.replace(
                base,
                platform=dataclasses.replace(base.platform, hostname=host),
                network=Network(("127.0.0.1", f"10.0.0.{7 + node}"), ("10.0.0.7",), (f"10.0.0.{7 + node}",)),
                env=_env(node, local, per_node, world, env or {}),
            )
            identity = Identity(node * per_node + local, world, local, per_node, node, host)
            ranks.append(RankFacts(identity, facts, runtime(node, nccl="2.18.1" if gpu else None)))
    job.setdefault("clocks", {r.identity.rank: 1_700_000_000.0 + 0.01 * r.identity.rank for r in ranks})
    job.setdefault("collectives", (Collective("gloo", 4 << 20, {r.identity.rank: 0.004 for r in ranks}),))
    return JobFacts(world, tuple(ranks), **job)


def with_rank(job: JobFacts, rank: int, **changes: Any) -> JobFacts:
    """The job with fields of one RankFacts replaced."""
    ranks = tuple(dataclasses.replace(r, **changes) if r.identity.rank == rank else r for r in job.ranks)
    return dataclasses.replace(job, ranks=ranks)


def with_runtime(job: JobFacts, rank: int, **changes: Any) -> JobFacts:
    old = next(r for r in job.ranks if r.identity.rank == rank)
    return with_rank(job, rank, runtime=dataclasses.replace(old.runtime, **changes))


def with_facts(job: JobFacts, rank: int, **changes: Any) -> JobFacts:
    old = next(r for r in job.ranks if r.identity.rank == rank)
    assert old.facts is not None
    return with_rank(job, rank, facts=dataclasses.replace(old.facts, **changes))


def on_node(job: JobFacts, node: int, **changes: Any) -> JobFacts:
    """Facts fields replaced on every rank of one node."""
    for r in job.ranks:
        if r.identity.node == node:
            job = with_facts(job, r.identity.rank, **changes)
    return job


def runtime_on_node(job: JobFacts, node: int, **changes: Any) -> JobFacts:
    for r in job.ranks:
        if r.identity.node == node:
            job = with_runtime(job, r.identity.rank, **changes)
    return job
