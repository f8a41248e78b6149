"""RANK, WORLD_SIZE, MASTER_ADDR and friends, as the shell would hand them to a Llama run."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from llamadoctor.facts import Facts, Network
from llamadoctor.model import Broken, Finding, Group, Healthy, Severity
from llamadoctor.registry import check
from llamadoctor.shell import env_commands
from llamadoctor.testing import linux_gpu, mac_arm, windows_conda

COUNTS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")
DOCKER_HOSTS = Network(hostname_resolves_to=("192.168.65.3",), local_addresses=("127.0.0.1", "10.0.0.7"))
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
            problems.append(Problem(f"{name}={raw!r} is not a whole number: torch.distributed cannot parse it.",
                                    unset=(name,)))
    return values, problems


def _consistency(env: Mapping[str, str], n: dict[str, int]) -> Iterator[Problem]:
    if n.get("WORLD_SIZE") == 0:
        yield Problem("WORLD_SIZE=0 asks for a world of no processes; rendezvous never completes.",
                      unset=("WORLD_SIZE", "RANK"))
    elif "RANK" in n and "WORLD_SIZE" in n and n["RANK"] >= n["WORLD_SIZE"]:
        yield Problem(f"RANK={n['RANK']} is not below WORLD_SIZE={n['WORLD_SIZE']}: ranks run from 0 to "
                      f"{n['WORLD_SIZE'] - 1}, so this process waits for peers that never come.",
                      unset=("RANK", "WORLD_SIZE"))
    for have, missing in (("RANK", "WORLD_SIZE"), ("WORLD_SIZE", "RANK")):
        if have in env and missing not in env:
            yield Problem(f"{have}={env[have]} is set but {missing} is not: a run without torchrun fails with "
                          f"“{NOT_SET.format(missing)}”.", unset=(have,), severity=Severity.WARNING)
    local, size = n.get("LOCAL_RANK"), n.get("LOCAL_WORLD_SIZE")
    if local is not None and size is not None and local >= size:
        yield Problem(f"LOCAL_RANK={local} is not below LOCAL_WORLD_SIZE={size}: it names a GPU slot this node "
                      "does not have.", unset=("LOCAL_RANK", "LOCAL_WORLD_SIZE"))


def single_node(n: Mapping[str, int]) -> bool:
    world = n.get("WORLD_SIZE")
    return world is None or world <= 1 or world == n.get("LOCAL_WORLD_SIZE")


def _master_addr(facts: Facts, n: Mapping[str, int]) -> Iterator[Problem]:
    addr, net = facts.env.get("MASTER_ADDR"), facts.network
    loopback = {"MASTER_ADDR": "127.0.0.1"}
    if addr is not None and net.master_addr_resolves_to == ():
        yield Problem(f"MASTER_ADDR={addr} does not resolve to any address: every rank fails to reach the "
                      "rendezvous store.", assign=loopback if single_node(n) else {})
    elif addr is not None and net.master_addr_resolves_to and single_node(n) and \
            not any(is_local(a, net) for a in net.master_addr_resolves_to):
        found = ", ".join(net.master_addr_resolves_to)
        yield Problem(f"MASTER_ADDR={addr} resolves to {found}, not to this machine, but the run is on one "
                      "node: the rendezvous waits on another host.", assign=loopback)
    elif addr is None and facts.os == "windows" and net.hostname_resolves_to and \
            not any(is_local(a, net) for a in net.hostname_resolves_to):
        found = ", ".join(net.hostname_resolves_to)
        yield Problem(f"MASTER_ADDR is unset and this machine's name {facts.platform.hostname} resolves to "
                      f"{found}, which is not one of its addresses (a hosts-file entry such as Docker's "
                      "kubernetes.docker.internal): torchrun fails with “The client socket has failed to "
                      "connect to [kubernetes.docker.internal]:29500 (system error: 10049 ...)”.",
                      assign={**loopback, "MASTER_PORT": facts.env.get("MASTER_PORT", "29500")})


def _master_port(facts: Facts) -> Iterator[Problem]:
    raw = facts.env.get("MASTER_PORT")
    if raw is not None and not (raw.strip().isdigit() and 1 <= int(raw) <= 65535):
        yield Problem(f"MASTER_PORT={raw!r} is not a port number (1-65535).", assign={"MASTER_PORT": "29500"})
        return
    if facts.network.master_port_in_use:
        port = int(raw) if raw is not None else 29500
        yield Problem(f"Port {port} (MASTER_PORT{'' if raw else ', the default'}) is already in use: the store "
                      "fails with “The server socket has failed to listen on any local network address” "
                      "(address already in use).", assign={"MASTER_PORT": str(port + 1 if port < 65535 else 29500)})


def problems(facts: Facts) -> list[Problem]:
    numbers, found = _counts(facts.env)
    found += [*_consistency(facts.env, numbers), *_master_addr(facts, numbers), *_master_port(facts)]
    return found


def remedy(facts: Facts, unset: Sequence[str], assign: Mapping[str, str]) -> str:
    lines = list(env_commands(facts.platform.shell, unset=unset, assign=assign))
    if "MASTER_ADDR" in assign:
        lines.append(f"(with torchrun, pass --master_addr {assign['MASTER_ADDR']} "
                     f"--master_port {assign.get('MASTER_PORT', '29500')}, or --standalone)")
    return "\n".join(lines)


@check(
    id="distributed-env-invalid",
    summary="RANK, WORLD_SIZE, MASTER_ADDR or MASTER_PORT would break torch.distributed",
    severity=Severity.ERROR,
    group=Group.DISTRIBUTED,
    fixes=("set-distributed-env",),
    examples=[
        Healthy(linux_gpu()),
        Healthy(windows_conda()),
        Healthy(linux_gpu(env={"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "localhost", "MASTER_PORT": "29500"},
                          network=Network(master_addr_resolves_to=("127.0.0.1",), master_port_in_use=False))),
        Broken(linux_gpu(env={"RANK": "1", "WORLD_SIZE": "1"}), expect="RANK=1 is not below WORLD_SIZE=1"),
        Broken(linux_gpu(env={"WORLD_SIZE": "0", "RANK": "0"}), expect="WORLD_SIZE=0"),
        Broken(mac_arm(env={"RANK": "1"}), expect="environment variable WORLD_SIZE expected, but not set"),
        Broken(linux_gpu(env={"RANK": "zero", "WORLD_SIZE": "1"}), expect="RANK='zero' is not a whole number"),
        Broken(linux_gpu(env={"LOCAL_RANK": "2", "LOCAL_WORLD_SIZE": "2"}), expect="LOCAL_RANK=2"),
        Broken(linux_gpu(env={"MASTER_PORT": "http"}), expect="MASTER_PORT='http' is not a port"),
        Broken(linux_gpu(env={"MASTER_ADDR": "llama-head"}, network=Network(master_addr_resolves_to=())),
               expect="MASTER_ADDR=llama-head does not resolve"),
        Broken(windows_conda(network=DOCKER_HOSTS), expect="ADA-PC resolves to 192.168.65.3"),
        Broken(linux_gpu(network=Network(master_port_in_use=True)), expect="Port 29500"),
    ],
)
def distributed_env_invalid(facts: Facts) -> Iterator[Finding]:
    """Distributed environment variables that make `init_process_group` fail or hang.

    What it checks: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE (whole numbers, RANK below WORLD_SIZE,
    WORLD_SIZE above 0, set together), MASTER_PORT (a free port number) and MASTER_ADDR (resolves; to this
    machine for a one-node run). On Windows without MASTER_ADDR, whether the machine's own name resolves to
    one of its addresses.
    Why it matters: a leftover `export RANK=1` or a guide's `WORLD_SIZE=0` hangs or fails every run
    (`environment variable RANK expected, but not set`); a hosts-file entry Docker Desktop adds makes torchrun
    on Windows connect to `[kubernetes.docker.internal]:29500` and fail with system error 10049; a busy port
    fails with "address already in use".
    How to fix: unset the stray variables (torchrun sets them for each process), or set the consistent
    single-process values; point MASTER_ADDR at 127.0.0.1 for a one-node run (torchrun: `--master_addr
    127.0.0.1` or `--standalone`); choose a free MASTER_PORT. `llamadoctor fix` prints the commands for your
    shell.
    """
    for problem in problems(facts):
        observed = {name: facts.env[name] for name in (*COUNTS, "MASTER_ADDR", "MASTER_PORT") if name in facts.env}
        yield distributed_env_invalid.finding(
            problem.message,
            remedy=remedy(facts, problem.unset, problem.assign),
            severity=problem.severity,
            variables=observed, unset=list(problem.unset), set=dict(problem.assign),
        )
