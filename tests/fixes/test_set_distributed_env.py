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


def _plan_for(check: object, facts: Facts) -> tuple[object, ...]:
    from llamadoctor.model import Check

    assert isinstance(check, Check) and "set-distributed-env" in check.fixes
    (finding,) = check.func(facts)
    return set_distributed_env.plan(finding, facts)


def test_mps_fallback_is_exported_in_zsh_and_the_plan_is_empty_once_set() -> None:
    from llamadoctor.checks.mps_fallback import mps_fallback_unset

    (action,) = _plan_for(mps_fallback_unset, mac_arm(env={"PYTORCH_ENABLE_MPS_FALLBACK": "0"}))
    assert isinstance(action, Manual) and action.commands == ("export PYTORCH_ENABLE_MPS_FALLBACK=1",)
    stale = mps_fallback_unset.finding("...", unset=[], set={"PYTORCH_ENABLE_MPS_FALLBACK": "1"})
    assert set_distributed_env.plan(stale, mac_arm(env={"PYTORCH_ENABLE_MPS_FALLBACK": "1"})) == ()


@pytest.mark.parametrize(("shell", "line"), [("powershell", '$env:USE_LIBUV = "0"'), ("cmd", "set USE_LIBUV=0")])
def test_use_libuv_off_in_the_windows_shell(shell: str, line: str) -> None:
    from llamadoctor.checks.windows_libuv import WIN_TORCH_25, windows_libuv

    facts = replace_in(windows_conda(torch=WIN_TORCH_25, env={"USE_LIBUV": "1"}), "platform", shell=shell)
    (action,) = _plan_for(windows_libuv, facts)
    assert isinstance(action, Manual) and action.commands == (line,)


def test_nccl_p2p_disable_for_consumer_gpus() -> None:
    from llamadoctor.checks.gpu_platform import TWO_4090, nccl_p2p_consumer_gpus
    from llamadoctor.facts import Options

    (action,) = _plan_for(nccl_p2p_consumer_gpus, linux_gpu(gpu=TWO_4090, options=Options(nproc=2)))
    assert isinstance(action, Manual) and action.commands == ("export NCCL_P2P_DISABLE=1",)
