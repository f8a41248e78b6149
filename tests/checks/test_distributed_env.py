from __future__ import annotations

import pytest

from llamadoctor.checks.distributed_env import DOCKER_HOSTS, distributed_env_invalid, is_local
from llamadoctor.facts import Facts, Network
from llamadoctor.model import Finding, Severity
from llamadoctor.registry import run_check
from llamadoctor.testing import linux_gpu, replace_in, windows_conda


def findings(facts: Facts) -> list[Finding]:
    return list(run_check(distributed_env_invalid, facts))


def test_one_finding_per_problem_each_naming_values() -> None:
    facts = linux_gpu(env={"RANK": "3", "WORLD_SIZE": "2", "MASTER_PORT": "99999"})
    messages = [f.message for f in findings(facts)]
    assert messages == [
        "RANK=3 is not below WORLD_SIZE=2: ranks run from 0 to 1, so this process waits for peers that never come.",
        "MASTER_PORT='99999' is not a port number (1-65535).",
    ]


def test_evidence_carries_the_observed_values_and_the_correction() -> None:
    (finding,) = findings(linux_gpu(env={"RANK": "1", "WORLD_SIZE": "1", "HF_HOME": "/x"}))
    assert finding.evidence == {
        "variables": {"RANK": "1", "WORLD_SIZE": "1"},
        "unset": ["RANK", "WORLD_SIZE"],
        "set": {},
    }
    assert finding.remedy == "unset RANK\nunset WORLD_SIZE"


def test_rank_without_world_size_is_a_warning_in_powershell() -> None:
    (finding,) = findings(windows_conda(env={"RANK": "0"}))
    assert finding.severity is Severity.WARNING
    assert "“environment variable WORLD_SIZE expected, but not set”" in finding.message
    assert finding.remedy == "Remove-Item Env:RANK"


def test_world_size_without_rank() -> None:
    (finding,) = findings(linux_gpu(env={"WORLD_SIZE": "1"}))
    assert "environment variable RANK expected, but not set" in finding.message


def test_non_numeric_values_are_not_compared_further() -> None:
    messages = [f.message for f in findings(linux_gpu(env={"RANK": "-1", "WORLD_SIZE": "one"}))]
    assert messages == [
        "RANK='-1' is not a whole number: torch.distributed cannot parse it.",
        "WORLD_SIZE='one' is not a whole number: torch.distributed cannot parse it.",
    ]


def test_master_addr_off_host_matters_only_for_one_node() -> None:
    network = Network(master_addr_resolves_to=("10.1.2.3",))
    (finding,) = findings(linux_gpu(env={"MASTER_ADDR": "llama-head"}, network=network))
    assert finding.message.startswith("MASTER_ADDR=llama-head resolves to 10.1.2.3, not to this machine")
    assert finding.remedy == (
        "export MASTER_ADDR=127.0.0.1\n"
        "(with torchrun, pass --master_addr 127.0.0.1 --master_port 29500, or --standalone)"
    )
    multi = {"MASTER_ADDR": "llama-head", "RANK": "2", "WORLD_SIZE": "16", "LOCAL_WORLD_SIZE": "8"}
    assert findings(linux_gpu(env=multi, network=network)) == []


def test_master_addr_resolving_to_a_local_interface_is_fine() -> None:
    network = Network(master_addr_resolves_to=("192.168.1.20",), local_addresses=("127.0.0.1", "192.168.1.20"))
    assert findings(linux_gpu(env={"MASTER_ADDR": "ada-box"}, network=network)) == []


def test_windows_hostname_in_docker_hosts_entry_in_cmd() -> None:
    facts = replace_in(windows_conda(network=DOCKER_HOSTS), "platform", shell="cmd")
    (finding,) = findings(facts)
    assert "this machine's name ADA-PC resolves to 192.168.65.3" in finding.message
    assert "[kubernetes.docker.internal]:29500" in finding.message
    assert finding.remedy.splitlines()[:2] == ["set MASTER_ADDR=127.0.0.1", "set MASTER_PORT=29500"]


def test_hostname_is_only_judged_on_windows_without_master_addr() -> None:
    assert findings(linux_gpu(network=DOCKER_HOSTS)) == []
    with_addr = windows_conda(
        network=replace_in(
            windows_conda(network=DOCKER_HOSTS), "network", master_addr_resolves_to=("127.0.0.1",)
        ).network,
        env={"MASTER_ADDR": "127.0.0.1"},
    )
    assert findings(with_addr) == []


def test_port_in_use_suggests_the_next_port() -> None:
    (finding,) = findings(linux_gpu(env={"MASTER_PORT": "29600"}, network=Network(master_port_in_use=True)))
    assert finding.message.startswith("Port 29600 (MASTER_PORT) is already in use")
    assert finding.remedy == "export MASTER_PORT=29601"


@pytest.mark.parametrize(
    ("address", "local"),
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("10.0.0.7", True),
        ("fe80::1%eth0", False),
        ("192.168.65.3", False),
        ("not-an-ip", False),
    ],
)
def test_is_local(address: str, local: bool) -> None:
    assert is_local(address, DOCKER_HOSTS) is local
