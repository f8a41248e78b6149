"""How the ranks reach each other: the interface gloo and NCCL bind, and where MASTER_ADDR points."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

from llamadoctor.checks._distributed import is_local
from llamadoctor.checks._job import multi_host, spread, spread_text, where
from llamadoctor.facts import Network
from llamadoctor.i18n import _
from llamadoctor.job import JobBroken, JobFacts, JobHealthy, RankFacts, job_check
from llamadoctor.model import NotApplicable, Outcome, Passed, Severity
from llamadoctor.testing_job import gpu_job, on_node, runtime_on_node

IFNAME_VARS = ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME")


def interface(rank: RankFacts) -> Optional[str]:
    """The interface the collectives bind: the one named in NCCL/GLOO_SOCKET_IFNAME, else the default route's."""
    named = [rank.runtime.socket_ifnames[v] for v in IFNAME_VARS if rank.runtime.socket_ifnames.get(v)]
    return named[0] if named else rank.runtime.default_route_ifname


def _loopback(rank: RankFacts, name: str) -> bool:
    addresses = rank.runtime.interface_addresses.get(name.lstrip("^=").split(",")[0])
    if addresses is None:
        return name.startswith("lo")
    return bool(addresses) and all(a.startswith("127.") or a == "::1" for a in addresses)


def _resolved(rank: RankFacts) -> Optional[str]:
    if rank.facts is None or rank.facts.network.master_addr_resolves_to is None:
        return None
    return ", ".join(rank.facts.network.master_addr_resolves_to) or _("nothing")


def _master_is_loopback(rank: RankFacts) -> bool:
    resolved = rank.facts.network.master_addr_resolves_to if rank.facts else None
    return bool(resolved) and all(is_local(a, Network(local_addresses=())) for a in resolved or ())


@job_check(
    id="job-network-unreachable",
    summary="The ranks bind interfaces or resolve MASTER_ADDR in ways the other nodes cannot reach",
    severity=Severity.ERROR,
    examples=[
        JobHealthy(gpu_job()),
        JobBroken(
            runtime_on_node(gpu_job(), 1, socket_ifnames={"NCCL_SOCKET_IFNAME": "lo"}),
            expect="NCCL_SOCKET_IFNAME/GLOO_SOCKET_IFNAME or the default route: lo on node 1",
        ),
        JobBroken(
            runtime_on_node(gpu_job(), 1, default_route_ifname="ib0"), expect="eth0 on node 0 (ada-0, ranks 0-1)"
        ),
        JobBroken(
            on_node(gpu_job(), 1, network=Network(master_addr_resolves_to=("10.0.0.99",))),
            expect="MASTER_ADDR resolves differently",
        ),
        JobBroken(
            on_node(
                on_node(gpu_job(), 0, network=Network(master_addr_resolves_to=("127.0.1.1",))),
                1,
                network=Network(master_addr_resolves_to=("127.0.1.1",)),
            ),
            expect="a loopback address",
        ),
    ],
)
def job_network_unreachable(job: JobFacts) -> Iterator[Outcome]:
    """The network each rank uses for the collectives, compared across machines.

    What it checks: on a job over several machines, the interface each rank's NCCL and gloo bind
    (NCCL_SOCKET_IFNAME, GLOO_SOCKET_IFNAME, else the default route's), that it is not loopback and is the
    same name everywhere, and that MASTER_ADDR resolves to the same address on every node and not to loopback.
    Why it matters: a node that picks `lo`, a docker bridge or another NIC than the rest, or whose hosts file
    maps the master's name to 127.0.1.1, hangs at the first collective until the timeout ("Connection reset
    by peer", "socket timeout"), with no error on the nodes that are fine.
    How to fix: set NCCL_SOCKET_IFNAME and GLOO_SOCKET_IFNAME to the interface of the network the nodes share,
    the same on every node; use an IP address for --master_addr (or fix the hosts file of the node named).
    """
    if not multi_host(job):
        yield NotApplicable(_("every rank runs on one machine"))
        return
    chosen = spread(job, interface)
    looped = [r for r in job.healthy_ranks if interface(r) and _loopback(r, interface(r) or "")]
    if looped:
        yield job_network_unreachable.finding(
            _(
                "NCCL_SOCKET_IFNAME/GLOO_SOCKET_IFNAME or the default route: {where}: a loopback interface, which "
                "the other machines cannot reach."
            ).format(where=spread_text({interface(r) or "": [r] for r in looped})),
            ranks=[r.identity.rank for r in looped],
        )
    elif len(chosen) > 1:
        yield job_network_unreachable.finding(
            _("The ranks bind different interfaces: {where}.").format(where=spread_text(chosen)),
            severity=Severity.WARNING,
        )
    addresses = spread(job, _resolved)
    if len(addresses) > 1:
        yield job_network_unreachable.finding(
            _("MASTER_ADDR resolves differently: {where}.").format(where=spread_text(addresses))
        )
    elif any(_master_is_loopback(r) for r in job.healthy_ranks):
        yield job_network_unreachable.finding(
            _(
                "MASTER_ADDR resolves to {address}, a loopback address, on {where}: the other machines cannot reach "
                "the master there."
            ).format(address=next(iter(addresses)), where=where(job.healthy_ranks))
        )
    yield Passed(
        _("interfaces {interfaces}; MASTER_ADDR resolves to {addresses}").format(
            interfaces=", ".join(chosen), addresses=", ".join(addresses)
        )
    )
