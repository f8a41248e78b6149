"""RANK, WORLD_SIZE, MASTER_ADDR and friends, as the shell would hand them to a Llama run."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from llamadoctor.checks._distributed import COUNTS, is_local, problems
from llamadoctor.checks._requires import NETWORK
from llamadoctor.facts import Facts, Network
from llamadoctor.i18n import _
from llamadoctor.model import Broken, Finding, Group, Healthy, Severity
from llamadoctor.registry import check
from llamadoctor.shell import env_commands
from llamadoctor.testing import linux_gpu, mac_arm, windows_conda

__all__ = ["DOCKER_HOSTS", "distributed_env_invalid", "is_local"]
VARIABLES = (*COUNTS, "MASTER_ADDR", "MASTER_PORT")
DOCKER_HOSTS = Network(hostname_resolves_to=("192.168.65.3",), local_addresses=("127.0.0.1", "10.0.0.7"))


def remedy(facts: Facts, unset: Sequence[str], assign: Mapping[str, str]) -> str:
    lines = list(env_commands(facts.platform.shell, unset=unset, assign=assign))
    if "MASTER_ADDR" in assign:
        lines.append(
            _("(with torchrun, pass {options}, or --standalone)").format(
                options=f"--master_addr {assign['MASTER_ADDR']} --master_port {assign.get('MASTER_PORT', '29500')}"
            )
        )
    return "\n".join(lines)


@check(
    id="distributed-env-invalid",
    summary="RANK, WORLD_SIZE, MASTER_ADDR or MASTER_PORT would break torch.distributed",
    severity=Severity.ERROR,
    group=Group.DISTRIBUTED,
    fixes=("set-distributed-env",),
    requires=(NETWORK,),
    checked=lambda facts: (
        ", ".join(f"{n}={facts.env[n]}" for n in VARIABLES if n in facts.env)
        or _("none of {variables} is set").format(variables=", ".join(VARIABLES))
    ),
    examples=[
        Healthy(linux_gpu()),
        Healthy(windows_conda()),
        Healthy(
            linux_gpu(
                env={"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "localhost", "MASTER_PORT": "29500"},
                network=Network(master_addr_resolves_to=("127.0.0.1",), master_port_in_use=False),
            )
        ),
        Broken(linux_gpu(env={"RANK": "1", "WORLD_SIZE": "1"}), expect="RANK=1 is not below WORLD_SIZE=1"),
        Broken(linux_gpu(env={"WORLD_SIZE": "0", "RANK": "0"}), expect="WORLD_SIZE=0"),
        Broken(mac_arm(env={"RANK": "1"}), expect="environment variable WORLD_SIZE expected, but not set"),
        Broken(linux_gpu(env={"RANK": "zero", "WORLD_SIZE": "1"}), expect="RANK='zero' is not a whole number"),
        Broken(linux_gpu(env={"LOCAL_RANK": "2", "LOCAL_WORLD_SIZE": "2"}), expect="LOCAL_RANK=2"),
        Broken(linux_gpu(env={"MASTER_PORT": "http"}), expect="MASTER_PORT='http' is not a port"),
        Broken(
            linux_gpu(env={"MASTER_ADDR": "llama-head"}, network=Network(master_addr_resolves_to=())),
            expect="MASTER_ADDR=llama-head does not resolve",
        ),
        Broken(windows_conda(network=DOCKER_HOSTS), expect="ADA-PC resolves to 192.168.65.3"),
        Broken(linux_gpu(network=Network(master_port_in_use=True)), expect="Port 29500"),
        Broken(
            windows_conda(env={"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}),
            expect="trying to connect to (127.0.0.1, 29500)",
        ),
        Healthy(
            linux_gpu(
                env={"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"},
                network=Network(master_addr_resolves_to=None),
            )
        ),
    ],
)
def distributed_env_invalid(facts: Facts) -> Iterator[Finding]:
    """Distributed environment variables that make `init_process_group` fail or hang.

    What it checks: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE (whole numbers, RANK below WORLD_SIZE,
    WORLD_SIZE above 0, set together; a RANK above 0 left in the shell), MASTER_PORT (a free port number)
    and MASTER_ADDR (resolves; to this machine for a one-node run). On Windows without MASTER_ADDR, whether
    the machine's own name resolves to one of its addresses.
    Why it matters: a leftover `export RANK=1` or a guide's `WORLD_SIZE=0` hangs or fails every run
    (`environment variable RANK expected, but not set`), and a stray `RANK=1` makes a plain `python` run wait
    for a rank 0 that never starts (`client socket has timed out after 900s while trying to connect to
    (127.0.0.1, 29500)`); a hosts-file entry Docker Desktop adds makes torchrun
    on Windows connect to `[kubernetes.docker.internal]:29500` and fail with system error 10049; a busy port
    fails with "address already in use".
    How to fix: unset the stray variables (torchrun sets them for each process), or set the consistent
    single-process values; point MASTER_ADDR at 127.0.0.1 for a one-node run (torchrun: `--master_addr
    127.0.0.1` or `--standalone`); choose a free MASTER_PORT. `llamadoctor fix` prints the commands for your
    shell.
    """
    for problem in problems(facts):
        observed = {name: facts.env[name] for name in VARIABLES if name in facts.env}
        yield distributed_env_invalid.finding(
            problem.message,
            remedy=remedy(facts, problem.unset, problem.assign),
            severity=problem.severity,
            variables=observed,
            unset=list(problem.unset),
            set=dict(problem.assign),
        )
