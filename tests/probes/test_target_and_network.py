"""The target-interpreter probe (a real foreign run and bad --python values) and the network probe."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from llamadoctor.probes.network import port_in_use, probe_network
from llamadoctor.probes.system import detect_shell, selected_env
from llamadoctor.probes.target import TargetError, describe, describe_interpreter


def test_a_foreign_run_describes_the_same_interpreter_as_in_process() -> None:
    outside = describe_interpreter(sys.executable)
    inside = describe()
    for key in ("version", "machine", "prefix", "scripts", "torch_dir"):
        assert outside[key] == inside[key]


def test_bad_interpreters_are_one_line_errors(tmp_path: Path) -> None:
    text = tmp_path / "python"
    text.write_text("not a program")
    with pytest.raises(TargetError, match="does not exist"):
        describe_interpreter(str(tmp_path / "missing"))
    with pytest.raises(TargetError, match="not executable"):
        describe_interpreter(str(text))
    fake = tmp_path / "fakepy"
    fake.write_text("#!/bin/sh\necho 'Python 2.7.18' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(TargetError, match=r"Python 2\.7\.18"):
        describe_interpreter(str(fake))


def test_a_hanging_interpreter_times_out() -> None:
    def hang(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(list(argv), timeout)

    with pytest.raises(TargetError, match="did not answer"):
        describe_interpreter("/usr/bin/python3", hang, timeout=1)


def test_master_addr_resolution_and_port_in_use() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        env = {"MASTER_ADDR": "kubernetes.docker.internal", "MASTER_PORT": str(port)}
        net = probe_network(env, "vm", resolver=lambda name: ("192.168.65.3",) if name.startswith("kub") else ())
        assert net.master_addr_resolves_to == ("192.168.65.3",)
        assert net.master_port_in_use is True
    assert port_in_use(port) is False
    assert probe_network({}, "vm", resolver=lambda n: ()).master_addr_resolves_to is None


def test_secrets_are_reduced_to_their_names() -> None:
    shown, secrets = selected_env({"HF_TOKEN": "hf_abcdefghijklmnopqrstuvwx", "RANK": "0", "HOME": "/root"})
    assert shown == {"RANK": "0"} and secrets == ("HF_TOKEN",)


def test_shell_detection_falls_back_to_the_environment() -> None:
    assert detect_shell("linux", {"SHELL": "/bin/zsh"}) in ("zsh", "bash")  # the parent process may decide
    assert detect_shell("windows", {"PSModulePath": "x"}) in ("powershell", "bash", "zsh", "cmd")


def test_a_venv_whose_python_links_to_ours_is_diagnosed_as_itself(tmp_path: Path) -> None:
    """A venv's python is a symlink to its base interpreter (pipx, `python -m venv`): --python must still
    describe that venv, its prefix and its torch, not the environment running llamadoctor."""
    import venv

    from llamadoctor.gather import Request, gather

    target = tmp_path / "other-env"
    venv.create(target, with_pip=False, symlinks=sys.platform != "win32")
    python = target / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    facts = gather(Request(python=str(python), repo=tmp_path))
    assert Path(facts.python.prefix).resolve() == target.resolve()
    assert facts.python.executable != sys.executable
    assert not facts.torch.installed  # the new venv has no torch, whatever the running one has
