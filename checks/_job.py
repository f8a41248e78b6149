"""What the cross-rank checks share: which GPU a rank drives, and naming values by the nodes and ranks that
hold them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Callable, Optional

from llamadoctor.facts import Gpu
from llamadoctor.i18n import _, ngettext
from llamadoctor.job import JobFacts, RankFacts, ranks_text


def visible_devices(env: Mapping[str, str]) -> Optional[list[str]]:
    """CUDA_VISIBLE_DEVICES as the CUDA runtime reads it (indices or GPU-UUIDs, up to the first bad entry);
    None when unset: every GPU is visible."""
    raw = env.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return None
    names = []
    for part in raw.split(","):
        part = part.strip()
        if not (part.isdigit() or part.startswith(("GPU-", "MIG-"))):
            break
        names.append(part)
    return names


def gpu_of(rank: RankFacts) -> tuple[Optional[Gpu], str]:
    """The GPU cuda:LOCAL_RANK is on this rank, or None with why (no GPUs, LOCAL_RANK beyond the visible ones)."""
    facts = rank.facts
    if facts is None or not facts.gpu.gpus:
        return None, _("no NVIDIA GPU")
    gpus = facts.gpu.gpus
    if rank.runtime.cuda_device_uuid:
        found = [g for g in gpus if g.uuid == rank.runtime.cuda_device_uuid]
        if found:
            return found[0], ""
    visible = visible_devices(facts.env)
    names = [str(g.index) for g in gpus] if visible is None else visible
    local = rank.identity.local_rank
    if local >= len(names) and visible is not None:
        return None, ngettext(
            "LOCAL_RANK={local} but CUDA_VISIBLE_DEVICES={value} shows {count} GPU",
            "LOCAL_RANK={local} but CUDA_VISIBLE_DEVICES={value} shows {count} GPUs",
            len(names),
        ).format(local=local, value=facts.env["CUDA_VISIBLE_DEVICES"], count=len(names))
    if local >= len(names):
        return None, ngettext(
            "LOCAL_RANK={local} but the machine shows {count} GPU",
            "LOCAL_RANK={local} but the machine shows {count} GPUs",
            len(names),
        ).format(local=local, count=len(names))
    name = names[local]
    for g in gpus:
        if name == str(g.index) or (g.uuid and g.uuid.startswith(name)):
            return g, ""
    return None, _("CUDA_VISIBLE_DEVICES names {name}, which this node does not have").format(name=name)


def label(rank: RankFacts) -> str:
    """ "rank 1 (node 0, ada-0)": one rank, as messages name it."""
    identity = rank.identity
    if identity.hostname:
        return _("rank {rank} (node {node}, {host})").format(
            rank=identity.rank, node=identity.node, host=identity.hostname
        )
    return _("rank {rank} (node {node})").format(rank=identity.rank, node=identity.node)


def where(ranks: Iterable[RankFacts]) -> str:
    """ "node 1 (ada-1, ranks 2-3)" for each node among `ranks`."""
    by_node: dict[int, list[RankFacts]] = {}
    for r in ranks:
        by_node.setdefault(r.identity.node, []).append(r)
    parts = []
    for node, members in sorted(by_node.items()):
        host = members[0].identity.hostname
        numbers = ranks_text(r.identity.rank for r in members)
        if host:
            # TRANSLATORS: {numbers} lists ranks, as in "node 1 (ada-1, ranks 2-3)".
            text = ngettext(
                "node {node} ({host}, rank {numbers})", "node {node} ({host}, ranks {numbers})", len(members)
            )
        else:
            text = ngettext("node {node} (rank {numbers})", "node {node} (ranks {numbers})", len(members))
        parts.append(text.format(node=node, host=host, numbers=numbers))
    # TRANSLATORS: what separates the nodes of a list, as in "node 0 (ada-0, rank 0); node 1 (ada-1, rank 1)".
    return _("; ").join(parts)


def spread(job: JobFacts, value: Callable[[RankFacts], Optional[str]]) -> dict[str, list[RankFacts]]:
    """Each value seen on the ranks that answered -> the ranks that have it ("unknown" for None)."""
    seen: dict[str, list[RankFacts]] = {}
    for r in job.healthy_ranks:
        seen.setdefault(value(r) or _("unknown"), []).append(r)
    return seen


def spread_text(seen: Mapping[str, list[RankFacts]]) -> str:
    # TRANSLATORS: {value} is a version or an interface name; {where} names nodes and ranks.
    return _("; ").join(
        _("{value} on {where}").format(value=value, where=where(ranks)) for value, ranks in seen.items()
    )


def multi_host(job: JobFacts) -> bool:
    """The ranks run on more than one machine (not merely several torchrun nodes on one host)."""
    return len({r.identity.hostname for r in job.ranks}) > 1
