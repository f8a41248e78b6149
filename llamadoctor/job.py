"""A torchrun job as data: who each rank is, what it found, how the job's own collective went, and the
registry of the checks that judge ranks against each other.

Torch-free: the ranks fill these on the job's side (llamadoctor.runner.job_transport), rank 0 judges them here
with pure functions, as the per-machine checks judge one Facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

from llamadoctor.facts import Facts
from llamadoctor.model import Finding, Group, Outcome, Severity

CLOCK_SKEW_SECONDS = 5.0


@dataclass(frozen=True)
class Identity:
    """Where a rank sits in the job, as torchrun told it."""

    rank: int
    world: int
    local_rank: int = 0
    local_world: int = 1
    node: int = 0  # torchrun's GROUP_RANK: the node's index in the job
    hostname: str = ""

    @property
    def label(self) -> str:
        return f"rank {self.rank} (node {self.node}{', ' + self.hostname if self.hostname else ''})"


@dataclass(frozen=True)
class Runtime:
    """What the rank's own interpreter reports, with torch imported: the libraries the job really uses."""

    packages: Mapping[str, str] = field(default_factory=dict)  # distribution -> version (torch, transformers, ...)
    nccl: Optional[str] = None  # "2.21.5"; None on a build without NCCL
    cuda_device_uuid: Optional[str] = None  # the GPU this rank's cuda:LOCAL_RANK is; None without one
    cuda_devices: Optional[int] = None  # devices this rank can see
    socket_ifnames: Mapping[str, str] = field(default_factory=dict)  # NCCL/GLOO_SOCKET_IFNAME as set
    default_route_ifname: Optional[str] = None
    interface_addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # shard file name -> md5, of the model folder's shards this node's ranks load (--hash, the node's first rank)
    shard_md5: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RankFacts:
    identity: Identity
    facts: Optional[Facts] = None  # None when gathering crashed
    runtime: Runtime = field(default_factory=Runtime)
    crash: str = ""  # the exception the rank's gathering raised, one line
    seconds: float = 0.0  # how long gathering took


@dataclass(frozen=True)
class Collective:
    """One measured all_reduce: per rank seconds (None: the rank timed out or failed), and the bytes reduced."""

    backend: str  # "gloo" | "nccl"
    nbytes: int
    seconds: Mapping[int, Optional[float]] = field(default_factory=dict)
    error: str = ""  # why it did not complete ("timed out after 30 s")
    timeout: float = 0.0

    def bus_bandwidth(self, world: int) -> Optional[float]:
        """Bytes per second over the slowest rank, counting the 2(n-1)/n of the data an all_reduce moves."""
        done = [s for s in self.seconds.values() if s]
        if self.error or not done or len(done) < len(self.seconds):
            return None
        return self.nbytes * 2 * (world - 1) / world / max(done)


@dataclass(frozen=True)
class JobFacts:
    world: int
    ranks: tuple[RankFacts, ...] = ()  # the ranks that answered, by rank
    missing: tuple[int, ...] = ()  # ranks that never answered within the timeout
    clocks: Mapping[int, float] = field(default_factory=dict)  # rank -> epoch seconds read right after a barrier
    collectives: tuple[Collective, ...] = ()
    timeout: float = 0.0
    nodes_joined: Optional[int] = None  # the nodes torchrun's rendezvous admitted (GROUP_WORLD_SIZE)
    nodes_expected: Optional[int] = None  # the nodes the job was launched for (torchrun's --nnodes, at most)

    @property
    def nodes(self) -> dict[int, list[RankFacts]]:
        grouped: dict[int, list[RankFacts]] = {}
        for r in sorted(self.ranks, key=lambda r: r.identity.rank):
            grouped.setdefault(r.identity.node, []).append(r)
        return grouped

    @property
    def healthy_ranks(self) -> list[RankFacts]:
        return [r for r in self.ranks if r.facts is not None]

    def first_of_each_node(self) -> list[RankFacts]:
        return [next((r for r in ranks if r.facts is not None), ranks[0]) for ranks in self.nodes.values()]


def node_of(rank: int, local_world: int) -> int:
    """The node of a rank that never answered, as torchrun numbers nodes when each runs `local_world` ranks."""
    return rank // max(1, local_world)


def ranks_text(ranks: Iterable[int]) -> str:
    """1, 2, 3, 5 -> "1-3, 5"."""
    values = sorted(set(ranks))
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][-1] + 1:
            runs[-1].append(v)
        else:
            runs.append([v])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


# ---- the registry of cross-rank checks ----------------------------------------------------------------------

JobFunc = Callable[[JobFacts], Iterator[Outcome]]
JobExample = Union["JobHealthy", "JobBroken"]


@dataclass(frozen=True)
class JobHealthy:
    job: JobFacts


@dataclass(frozen=True)
class JobBroken:
    job: JobFacts
    expect: str = ""  # a substring a finding's message must contain


@dataclass(frozen=True)
class JobCheck:
    id: str
    summary: str
    severity: Severity
    func: JobFunc
    examples: tuple[JobExample, ...] = ()
    group: Group = Group.DISTRIBUTED

    @property
    def doc(self) -> str:
        import inspect

        return inspect.getdoc(self.func) or ""

    def finding(
        self, message: str, *, severity: Optional[Severity] = None, remedy: str = "", **evidence: object
    ) -> Finding:
        return Finding(self.id, severity or self.severity, message, (), evidence, remedy)


JOB_CHECKS: dict[str, JobCheck] = {}


def job_check(
    *, id: str, summary: str, severity: Severity, examples: Sequence[JobExample] = ()
) -> Callable[[JobFunc], JobCheck]:
    """Register a check over a whole job, as @check registers one over one machine's Facts."""

    def register(func: JobFunc) -> JobCheck:
        if id in JOB_CHECKS:
            raise ValueError(f"job check id {id!r} is registered twice")
        JOB_CHECKS[id] = spec = JobCheck(id, summary, severity, func, tuple(examples))
        return spec

    return register


def all_job_checks() -> list[JobCheck]:
    from llamadoctor.registry import load_all

    load_all()  # the job checks live in llamadoctor.checks beside the others
    return sorted(JOB_CHECKS.values(), key=lambda c: c.id)


__all__ = [
    "CLOCK_SKEW_SECONDS",
    "Collective",
    "Identity",
    "JobBroken",
    "JobCheck",
    "JobFacts",
    "JobHealthy",
    "RankFacts",
    "Runtime",
    "all_job_checks",
    "job_check",
    "node_of",
    "ranks_text",
]
