"""The job as a whole: every rank answered, the clocks agree, and a real collective completes in good time."""

from __future__ import annotations

import statistics
from collections.abc import Iterator

from llamadoctor.checks._job import where
from llamadoctor.job import (
    CLOCK_SKEW_SECONDS,
    Collective,
    JobBroken,
    JobFacts,
    JobHealthy,
    job_check,
    node_of,
    ranks_text,
)
from llamadoctor.model import NotApplicable, Outcome, Passed, Severity
from llamadoctor.testing_job import gpu_job, with_rank

SLOW_FACTOR, SLOW_FLOOR = 4.0, 0.05  # a rank this many times the median, and this many seconds, is slow
MB = 1e6


@job_check(
    id="job-rank-unanswered",
    summary="A rank never answered, or its fact gathering crashed",
    severity=Severity.ERROR,
    examples=[
        JobHealthy(gpu_job()),
        JobBroken(gpu_job(missing=(2, 3), timeout=30.0), expect="ranks 2-3 (node 1) did not answer within 30 s"),
        JobBroken(
            with_rank(gpu_job(), 1, facts=None, crash="OSError: [Errno 5] Input/output error"),
            expect="rank 1 (node 0, ada-0) crashed while gathering its facts: OSError",
        ),
    ],
)
def job_rank_unanswered(job: JobFacts) -> Iterator[Outcome]:
    """Ranks the report cannot speak for.

    What it checks: that every rank of the job joined within the timeout and sent its facts, and names the
    ranks (and the nodes they belong to) that did not, or whose gathering raised.
    Why it matters: a node that never starts (a typo in its --master_addr, a firewall, a torchrun that
    crashed) hangs every other rank at its first collective; a report without it would read as healthy.
    How to fix: start the missing node with the same --nnodes, --master_addr and --master_port as the
    others and check that it reaches the master's port; for a crash, run `llamadoctor check` on that node.
    """
    local = job.ranks[0].identity.local_world if job.ranks else 1
    if job.missing:
        nodes = sorted({node_of(r, local) for r in job.missing})
        yield job_rank_unanswered.finding(
            f"rank{'s' if len(job.missing) > 1 else ''} {ranks_text(job.missing)} "
            f"(node{'s' if len(nodes) > 1 else ''} {ranks_text(nodes)}) did not answer within {job.timeout:g} s.",
            ranks=list(job.missing),
            nodes=nodes,
        )
    for r in job.ranks:
        if r.facts is None:
            yield job_rank_unanswered.finding(
                f"{r.identity.label} crashed while gathering its facts: {r.crash}", rank=r.identity.rank
            )
    yield Passed(f"{len(job.healthy_ranks)} of {job.world} ranks answered")


def _node_ranks(first: int, last: int) -> str:
    return f"node rank{'s' if last > first else ''} {ranks_text(range(first, last + 1))}"


@job_check(
    id="job-node-missing",
    summary="Fewer nodes joined the job than it was launched for",
    severity=Severity.ERROR,
    examples=[
        JobHealthy(gpu_job(nodes_joined=2, nodes_expected=2)),
        JobBroken(
            gpu_job(nodes=1, nodes_joined=1, nodes_expected=3),
            expect="1 of 3 nodes joined the job; node ranks 1-2 never arrived",
        ),
    ],
)
def job_node_missing(job: JobFacts) -> Iterator[Outcome]:
    """Nodes torchrun's rendezvous went on without.

    What it checks: how many nodes joined the job (torchrun's GROUP_WORLD_SIZE) against how many it was
    launched for (the largest value of the launcher's --nnodes, or check's own --nnodes).
    Why it matters: an elastic launch (--nnodes 1:N) starts with the nodes that came within its rendezvous
    window; the model would then be split over fewer GPUs than its shards need, or the job wait for a node
    that never comes.
    How to fix: start torchrun on the missing machines with the same --rdzv-endpoint and --rdzv-id, and check
    that they reach the endpoint's port; widen the window with --rdzv-conf last_call_timeout=SECONDS.
    """
    if not job.nodes_expected or not job.nodes_joined:
        yield NotApplicable("the number of nodes the job was launched for is unknown")
        return
    if job.nodes_joined < job.nodes_expected:
        came = ", ".join(f"node {node} ({ranks[0].identity.hostname})" for node, ranks in job.nodes.items())
        yield job_node_missing.finding(
            f"{job.nodes_joined} of {job.nodes_expected} nodes joined the job; "
            f"{_node_ranks(job.nodes_joined, job.nodes_expected - 1)} never arrived (came: {came}).",
            joined=job.nodes_joined,
            expected=job.nodes_expected,
            missing=list(range(job.nodes_joined, job.nodes_expected)),
        )
        return
    yield Passed(f"{job.nodes_joined} of {job.nodes_expected} nodes joined")


@job_check(
    id="job-clock-skew",
    summary="The clocks of the nodes are seconds apart",
    severity=Severity.WARNING,
    examples=[
        JobHealthy(gpu_job()),
        JobBroken(gpu_job(clocks={0: 100.0, 1: 100.0, 2: 140.0, 3: 140.0}), expect="40.0 s ahead of rank 0"),
    ],
)
def job_clock_skew(job: JobFacts) -> Iterator[Outcome]:
    """Each rank's clock, read right after one barrier.

    What it checks: the wall clock of every rank against rank 0's, read by all ranks at the same moment (just
    after a barrier); a node more than a few seconds apart is named.
    Why it matters: logs from different nodes then tell events in the wrong order, and timeouts measured
    against another node's timestamps (a rendezvous's last-call window, a signed URL's expiry) fire early or
    late.
    How to fix: run an NTP client (chrony, systemd-timesyncd) on every node.
    """
    if len(job.clocks) < 2 or 0 not in job.clocks:
        yield NotApplicable("fewer than two ranks read their clocks")
        return
    base = job.clocks[0]
    apart = {rank: t - base for rank, t in job.clocks.items() if abs(t - base) > CLOCK_SKEW_SECONDS}
    by_rank = {r.identity.rank: r for r in job.ranks}
    for offset in sorted(set(round(v, 1) for v in apart.values())):
        ranks = [by_rank[r] for r, v in apart.items() if round(v, 1) == offset and r in by_rank]
        direction = "ahead of" if offset > 0 else "behind"
        yield job_clock_skew.finding(f"The clock of {where(ranks)} is {abs(offset):.1f} s {direction} rank 0's.")
    spread = max(job.clocks.values()) - min(job.clocks.values())
    yield Passed(f"{len(job.clocks)} clocks within {spread:.2f} s of each other")


def _slow(c: Collective) -> list[int]:
    done = {r: s for r, s in c.seconds.items() if s is not None}
    if len(done) < 2:
        return []
    median = statistics.median(done.values())
    return [r for r, s in done.items() if s > SLOW_FLOOR and s > SLOW_FACTOR * median]


@job_check(
    id="job-collective-slow",
    summary="The measured all_reduce hung or some ranks were much slower than the rest",
    severity=Severity.ERROR,
    examples=[
        JobHealthy(gpu_job()),
        JobBroken(
            gpu_job(collectives=(Collective("gloo", 4 << 20, {0: None, 1: None, 2: 0.01, 3: None}, "timed out"),)),
            expect="all_reduce on gloo did not complete (timed out): ranks 0-1, 3",
        ),
        JobBroken(
            gpu_job(collectives=(Collective("nccl", 4 << 20, {0: 0.002, 1: 0.002, 2: 0.9, 3: 0.002}),)),
            expect="rank 2 took 0.900 s",
        ),
    ],
)
def job_collective_slow(job: JobFacts) -> Iterator[Outcome]:
    """A real collective over the job's own process groups, timed on every rank.

    What it checks: a small all_reduce (a few MiB of float32) over gloo, and over NCCL when every rank has a
    GPU, with a timeout: that it completes on every rank, that no rank takes many times the median, and its
    bus bandwidth (what the data an all_reduce moves, divided by the slowest rank's time).
    Why it matters: a node on a slow or wrong link, or a firewall between two nodes, shows only as a hang or
    a crawl once the model is loading; here it has a name.
    How to fix: check the link of the ranks named (NCCL_SOCKET_IFNAME, a firewall between nodes, NCCL_DEBUG=INFO
    for the transport NCCL chose).
    """
    if not job.collectives:
        yield NotApplicable("no collective was measured")
        return
    for c in job.collectives:
        if c.error:
            hung = [r for r, s in sorted(c.seconds.items()) if s is None]
            yield job_collective_slow.finding(
                f"all_reduce on {c.backend} did not complete ({c.error}): ranks {ranks_text(hung)} never finished.",
                backend=c.backend,
                ranks=hung,
            )
            continue
        for rank in _slow(c):
            seconds = c.seconds[rank] or 0.0
            median = statistics.median(s for s in c.seconds.values() if s is not None)
            yield job_collective_slow.finding(
                f"all_reduce on {c.backend}: rank {rank} took {seconds:.3f} s, the median rank {median:.3f} s.",
                severity=Severity.WARNING,
                backend=c.backend,
                rank=rank,
            )
        bandwidth = c.bus_bandwidth(job.world)
        rate = f"{bandwidth / MB:,.0f} MB/s bus bandwidth" if bandwidth else "no bandwidth"
        yield Passed(f"all_reduce of {c.nbytes / MB:.1f} MB on {c.backend}: {rate}")
