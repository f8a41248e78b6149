from __future__ import annotations

import pytest

from llamadoctor.checks.distributed_env import DOCKER_HOSTS, distributed_env_invalid
from llamadoctor.facts import Facts
from llamadoctor.fixes.set_distributed_env import set_distributed_env
from llamadoctor.model import Manual
from llamadoctor.testing import linux_gpu, mac_arm, replace_in, windows_conda


def plans(facts: Facts) -> list[tuple[object, ...]]:
    return [set_distributed_env.plan(f, facts) for f in distributed_env_invalid.func(facts)]


def test_noop_on_healthy_facts_and_stale_findings() -> None:
    assert plans(linux_gpu()) == []
    stale = distributed_env_invalid.finding("RANK=1 ...", unset=["RANK"], set={})
    assert set_distributed_env.plan(stale, linux_gpu()) == ()  # RANK is no longer set


@pytest.mark.parametrize(
    ("shell", "lines"),
    [
        ("bash", ["unset RANK", "unset WORLD_SIZE"]),
        ("zsh", ["unset RANK", "unset WORLD_SIZE"]),
        ("powershell", ["Remove-Item Env:RANK", "Remove-Item Env:WORLD_SIZE"]),
        ("cmd", ["set RANK=", "set WORLD_SIZE="]),
    ],
)
def test_unset_commands_per_shell(shell: str, lines: list[str]) -> None:
    facts = replace_in(linux_gpu(env={"RANK": "1", "WORLD_SIZE": "1"}), "platform", shell=shell)
    ((action,),) = plans(facts)
    assert isinstance(action, Manual)
    assert list(action.commands[:2]) == lines
    assert "shell profile" in action.commands[2]


def test_powershell_sets_master_addr_and_names_torchrun_flags() -> None:
    ((action,),) = plans(windows_conda(network=DOCKER_HOSTS))
    assert isinstance(action, Manual)
    assert action.commands == ('$env:MASTER_ADDR = "127.0.0.1"', '$env:MASTER_PORT = "29500"')
    assert "--master_addr 127.0.0.1 --master_port 29500" in action.text


def test_zsh_port_change() -> None:
    from llamadoctor.facts import Network

    facts = mac_arm(env={"MASTER_PORT": "29500"}, network=Network(master_port_in_use=True))
    ((action,),) = plans(facts)
    assert isinstance(action, Manual) and action.commands == ("export MASTER_PORT=29501",)
