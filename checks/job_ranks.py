"""The job as a whole: every rank answered, the clocks agree, and a real collective completes in good time."""

from __future__ import annotations

import statistics
from collections.abc import Iterator

from llamadoctor.checks._job import label, where
from llamadoctor.i18n import _, ngettext
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
        ranks = ngettext("rank {ranks}", "ranks {ranks}", len(job.missing)).format(ranks=ranks_text(job.missing))
        # TRANSLATORS: {ranks} is "rank 2" or "ranks 2-3"; {nodes} the numbers of their nodes.
        message = ngettext(
            "{ranks} (node {nodes}) did not answer within {seconds} s.",
            "{ranks} (nodes {nodes}) did not answer within {seconds} s.",
            len(nodes),
        )
        yield job_rank_unanswered.finding(
            message.format(ranks=ranks, nodes=ranks_text(nodes), seconds=f"{job.timeout:g}"),
            ranks=list(job.missing),
            nodes=nodes,
        )
    for r in job.ranks:
        if r.facts is None:
            yield job_rank_unanswered.finding(
                _("{rank} crashed while gathering its facts: {error}").format(rank=label(r), error=r.crash),
                rank=r.identity.rank,
            )
    yield Passed(_("{count} of {world} ranks answered").format(count=len(job.healthy_ranks), world=job.world))


def _node_ranks(first: int, last: int) -> str:
    numbers = ranks_text(range(first, last + 1))
    return ngettext("node rank {ranks}", "node ranks {ranks}", last - first + 1).format(ranks=numbers)


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
        yield NotApplicable(_("the number of nodes the job was launched for is unknown"))
        return
    if job.nodes_joined < job.nodes_expected:
        came = ", ".join(
            _("node {node} ({host})").format(node=node, host=ranks[0].identity.hostname)
            for node, ranks in job.nodes.items()
        )
        # TRANSLATORS: {missing} is "node rank 2" or "node ranks 1-2"; {came} lists the nodes that joined.
        message = _("{joined} of {expected} nodes joined the job; {missing} never arrived (came: {came}).")
        yield job_node_missing.finding(
            message.format(
                joined=job.nodes_joined,
                expected=job.nodes_expected,
                missing=_node_ranks(job.nodes_joined, job.nodes_expected - 1),
                came=came,
            ),
            joined=job.nodes_joined,
            expected=job.nodes_expected,
            missing=list(range(job.nodes_joined, job.nodes_expected)),
        )
        return
    yield Passed(_("{joined} of {expected} nodes joined").format(joined=job.nodes_joined, expected=job.nodes_expected))


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
        yield NotApplicable(_("fewer than two ranks read their clocks"))
        return
    base = job.clocks[0]
    apart = {rank: t - base for rank, t in job.clocks.items() if abs(t - base) > CLOCK_SKEW_SECONDS}
    by_rank = {r.identity.rank: r for r in job.ranks}
    for offset in sorted(set(round(v, 1) for v in apart.values())):
        ranks = [by_rank[r] for r, v in apart.items() if round(v, 1) == offset and r in by_rank]
        if offset > 0:
            message = _("The clock of {where} is {seconds} s ahead of rank 0's.")
        else:
            message = _("The clock of {where} is {seconds} s behind rank 0's.")
        yield job_clock_skew.finding(message.format(where=where(ranks), seconds=f"{abs(offset):.1f}"))
    spread = max(job.clocks.values()) - min(job.clocks.values())
    yield Passed(
        _("{count} clocks within {seconds} s of each other").format(count=len(job.clocks), seconds=f"{spread:.2f}")
    )


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
        yield NotApplicable(_("no collective was measured"))
        return
    for c in job.collectives:
        if c.error:
            hung = [r for r, s in sorted(c.seconds.items()) if s is None]
            yield job_collective_slow.finding(
                # TRANSLATORS: {backend} is gloo or nccl; {error} is how the collective failed ("timed out").
                _("all_reduce on {backend} did not complete ({error}): ranks {ranks} never finished.").format(
                    backend=c.backend, error=c.error, ranks=ranks_text(hung)
                ),
                backend=c.backend,
                ranks=hung,
            )
            continue
        for rank in _slow(c):
            seconds = c.seconds[rank] or 0.0
            median = statistics.median(s for s in c.seconds.values() if s is not None)
            yield job_collective_slow.finding(
                _("all_reduce on {backend}: rank {rank} took {seconds} s, the median rank {median} s.").format(
                    backend=c.backend, rank=rank, seconds=f"{seconds:.3f}", median=f"{median:.3f}"
                ),
                severity=Severity.WARNING,
                backend=c.backend,
                rank=rank,
            )
        bandwidth = c.bus_bandwidth(job.world)
        size = f"{c.nbytes / MB:.1f}"
        if bandwidth:
            passed = _("all_reduce of {size} MB on {backend}: {rate} MB/s bus bandwidth").format(
                size=size, backend=c.backend, rate=f"{bandwidth / MB:,.0f}"
            )
        else:
            passed = _("all_reduce of {size} MB on {backend}: no bandwidth").format(size=size, backend=c.backend)
        yield Passed(passed)
