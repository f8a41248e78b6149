"""The rules of distributed-env-invalid: each returns Problems naming the values it saw."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from llamadoctor.facts import Facts, Network
from llamadoctor.i18n import _
from llamadoctor.model import Severity

COUNTS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")
NOT_SET = "environment variable {} expected, but not set"


@dataclass(frozen=True)
class Problem:
    message: str
    unset: tuple[str, ...] = ()
    assign: Mapping[str, str] = field(default_factory=dict)
    severity: Severity = Severity.ERROR


def is_local(address: str, network: Network) -> bool:
    """An address of this machine: loopback, or one of its interfaces."""
    bare = address.split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        return False
    return ip.is_loopback or bare in network.local_addresses


def _counts(env: Mapping[str, str]) -> tuple[dict[str, int], list[Problem]]:
    values, problems = {}, []
    for name in COUNTS:
        raw = env.get(name)
        if raw is None:
            continue
        if raw.strip().isdigit():
            values[name] = int(raw)
        else:
            problems.append(
                Problem(
                    _("{name}={value} is not a whole number: torch.distributed cannot parse it.").format(
                        name=name, value=repr(raw)
                    ),
                    unset=(name,),
                )
            )
    return values, problems


def _consistency(env: Mapping[str, str], n: dict[str, int]) -> Iterator[Problem]:
    if n.get("WORLD_SIZE") == 0:
        yield Problem(
            _("WORLD_SIZE=0 asks for a world of no processes; rendezvous never completes."),
            unset=("WORLD_SIZE", "RANK"),
        )
    elif "RANK" in n and "WORLD_SIZE" in n and n["RANK"] >= n["WORLD_SIZE"]:
        yield Problem(
            _(
                "RANK={rank} is not below WORLD_SIZE={world}: ranks run from 0 to {last}, so this process waits "
                "for peers that never come."
            ).format(rank=n["RANK"], world=n["WORLD_SIZE"], last=n["WORLD_SIZE"] - 1),
            unset=("RANK", "WORLD_SIZE"),
        )
    for have, missing in (("RANK", "WORLD_SIZE"), ("WORLD_SIZE", "RANK")):
        if have in env and missing not in env:
            yield Problem(
                # TRANSLATORS: {have} and {missing} are environment variables; {error} is torch's error text.
                _("{have}={value} is set but {missing} is not: a run without torchrun fails with “{error}”.").format(
                    have=have, value=env[have], missing=missing, error=NOT_SET.format(missing)
                ),
                unset=(have,),
                severity=Severity.WARNING,
            )
    local, size = n.get("LOCAL_RANK"), n.get("LOCAL_WORLD_SIZE")
    if local is not None and size is not None and local >= size:
        yield Problem(
            _(
                "LOCAL_RANK={local} is not below LOCAL_WORLD_SIZE={size}: it names a GPU slot this node does not have."
            ).format(local=local, size=size),
            unset=("LOCAL_RANK", "LOCAL_WORLD_SIZE"),
        )


def _stray_rank(env: Mapping[str, str], n: Mapping[str, int]) -> Iterator[Problem]:
    """A worker's RANK left in the shell: a plain `python` run joins as that rank and waits for a rank 0."""
    rank, world = n.get("RANK"), n.get("WORLD_SIZE")
    # torchrun sets LOCAL_WORLD_SIZE for its processes; a shell profile that exports RANK rarely does
    if "LOCAL_WORLD_SIZE" in env or not rank or world is None or rank >= world:
        return
    addr, port = env.get("MASTER_ADDR"), env.get("MASTER_PORT", "29500")
    if addr is None:
        message = _(
            "RANK={rank} (of WORLD_SIZE={world}) is set in this shell: a script started here without torchrun joins "
            "as rank {rank} and fails at once with “{error}”. Unless this machine is a worker of a multi-node run "
            "started by hand, unset them (torchrun sets them for each process)."
        )
    else:
        message = _(
            "RANK={rank} (of WORLD_SIZE={world}) is set in this shell: a script started here without torchrun joins "
            "as rank {rank} and waits for rank 0's store at {addr}:{port} and, with no rank 0 running, fails after "
            "900 s with “The client socket has timed out after 900s while trying to connect to ({addr}, {port})”. "
            "Unless this machine is a worker of a multi-node run started by hand, unset them (torchrun sets them "
            "for each process)."
        )
    yield Problem(
        message.format(rank=rank, world=world, error=NOT_SET.format("MASTER_ADDR"), addr=addr, port=port),
        unset=tuple(v for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK") if v in env),
        severity=Severity.WARNING,
    )


def single_node(n: Mapping[str, int]) -> bool:
    world = n.get("WORLD_SIZE")
    return world is None or world <= 1 or world == n.get("LOCAL_WORLD_SIZE")


def _master_addr(facts: Facts, n: Mapping[str, int]) -> Iterator[Problem]:
    addr, net = facts.env.get("MASTER_ADDR"), facts.network
    loopback = {"MASTER_ADDR": "127.0.0.1"}
    if addr is not None and net.master_addr_resolves_to == ():
        yield Problem(
            _(
                "MASTER_ADDR={addr} does not resolve to any address: every rank fails to reach the rendezvous store."
            ).format(addr=addr),
            assign=loopback if single_node(n) else {},
        )
    elif (
        addr is not None
        and net.master_addr_resolves_to
        and single_node(n)
        and not any(is_local(a, net) for a in net.master_addr_resolves_to)
    ):
        found = ", ".join(net.master_addr_resolves_to)
        yield Problem(
            _(
                "MASTER_ADDR={addr} resolves to {found}, not to this machine, but the run is on one node: the "
                "rendezvous waits on another host."
            ).format(addr=addr, found=found),
            assign=loopback,
        )
    elif (
        addr is None
        and facts.os == "windows"
        and net.hostname_resolves_to
        and not any(is_local(a, net) for a in net.hostname_resolves_to)
    ):
        found = ", ".join(net.hostname_resolves_to)
        yield Problem(
            _(
                "MASTER_ADDR is unset and this machine's name {hostname} resolves to {found}, which is not one of "
                "its addresses (a hosts-file entry such as Docker's kubernetes.docker.internal): torchrun fails "
                "with “The client socket has failed to connect to [kubernetes.docker.internal]:29500 (system "
                "error: 10049 ...)”."
            ).format(hostname=facts.platform.hostname, found=found),
            assign={**loopback, "MASTER_PORT": facts.env.get("MASTER_PORT", "29500")},
        )


def _master_port(facts: Facts) -> Iterator[Problem]:
    raw = facts.env.get("MASTER_PORT")
    if raw is not None and not (raw.strip().isdigit() and 1 <= int(raw) <= 65535):
        yield Problem(
            _("MASTER_PORT={value} is not a port number (1-65535).").format(value=repr(raw)),
            assign={"MASTER_PORT": "29500"},
        )
        return
    if facts.network.master_port_in_use:
        port = int(raw) if raw is not None else 29500
        if raw:
            message = _(
                "Port {port} (MASTER_PORT) is already in use: the store fails with “The server socket has failed "
                "to listen on any local network address” (address already in use)."
            )
        else:
            message = _(
                "Port {port} (MASTER_PORT, the default) is already in use: the store fails with “The server socket "
                "has failed to listen on any local network address” (address already in use)."
            )
        yield Problem(
            message.format(port=port),
            assign={"MASTER_PORT": str(port + 1 if port < 65535 else 29500)},
        )


def problems(facts: Facts) -> list[Problem]:
    numbers, found = _counts(facts.env)
    found += [
        *_consistency(facts.env, numbers),
        *_stray_rank(facts.env, numbers),
        *_master_addr(facts, numbers),
        *_master_port(facts),
    ]
    return found
