"""Device/dtype choice, rank layout from the environment, sampling seeds and the memory preflight."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from llamadoctor.runner import device, distributed
from llamadoctor.runner.cli import app
from llamadoctor.runner.errors import RunError


@pytest.mark.parametrize(("capability", "expected"), [((8, 0), torch.bfloat16), ((7, 5), torch.float16)])
def test_cuda_dtype_follows_compute_capability(monkeypatch, capability, expected) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: capability)
    monkeypatch.setattr(device, "_works", lambda d, t: True)
    assert device.pick_dtype("auto", torch.device("cuda", 0)) == expected


def test_cpu_defaults_to_fp32_and_a_broken_dtype_is_one_error(monkeypatch) -> None:
    assert device.pick_dtype("auto", torch.device("cpu")) == torch.float32
    assert device.pick_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    monkeypatch.setattr(device, "_works", lambda d, t: False)
    with pytest.raises(RunError, match="fp16 matmul does not run on cpu"):
        device.pick_dtype("fp16", torch.device("cpu"))


def test_rank_layout_and_backend() -> None:
    assert distributed.from_env({}) == distributed.SINGLE
    par = distributed.from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert (par.rank, par.world, par.local_rank, par.is_parallel) == (1, 2, 1, True)
    assert distributed.backend_for("cpu") == "gloo"
    assert distributed.backend_for("mps") == "gloo"


def test_one_node_gloo_binds_to_loopback_unless_told_otherwise() -> None:
    windows = {"Ethernet": ["10.1.2.3"], "Loopback Pseudo-Interface 1": ["127.0.0.1"]}
    one_node = {"MASTER_ADDR": "127.0.0.1", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2"}
    assert distributed.gloo_loopback_env(one_node, windows) == {"GLOO_SOCKET_IFNAME": "Loopback Pseudo-Interface 1"}
    assert distributed.gloo_loopback_env({**one_node, "GLOO_SOCKET_IFNAME": "eth0"}, windows) == {}
    assert distributed.gloo_loopback_env({**one_node, "MASTER_ADDR": "10.1.2.9"}, windows) == {}  # multi-node
    assert distributed.gloo_loopback_env({**one_node, "LOCAL_WORLD_SIZE": "1"}, windows) == {}  # ranks elsewhere
    assert distributed.gloo_loopback_env(one_node, {"eth0": ["10.1.2.3"]}) == {}


def test_sampling_is_reproducible_with_a_seed(model_dir) -> None:
    def generation(seed: str) -> str:
        args = [
            "text",
            "--model-dir",
            str(model_dir("llama2", "meta")),
            "--prompt",
            "Paris is",
            "--max-gen-len",
            "16",
            "--temperature",
            "1.0",
            "--top-p",
            "0.95",
            "--seed",
            seed,
            "--device",
            "cpu",
            "--json",
        ]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)["results"][0]["generation"]

    assert generation("7") == generation("7")
    assert len({generation(s) for s in ("1", "2", "3")}) > 1


def test_a_model_that_does_not_fit_in_ram_stops_before_loading(model_dir, monkeypatch) -> None:
    import psutil

    class Tiny:
        available = 1024

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Tiny())
    args = ["text", "--model-dir", str(model_dir("llama2", "meta")), "--prompt", "x", "--device", "cpu"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "this run needs about" in result.stderr and "GiB free" not in result.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's; elsewhere ru_maxrss is used")
def test_peak_memory_is_the_process_own_not_its_parents() -> None:
    """A run started from a big process (a notebook, a benchmark) reports its own peak, not the parent's.

    The same child is measured twice, the second time from a parent 1 GiB bigger: its figure must not grow
    with the parent (the child's own size depends on the torch build, so it is never compared to a bound).
    """
    code = "from llamadoctor.runner.device import peak_rss_bytes; print(peak_rss_bytes())"

    def child_peak() -> int:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
        return int(done.stdout)

    before = child_peak()
    ballast = bytearray(1024 * 1024 * 1024)  # this process: 1 GiB more, every page touched
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    after = child_peak()
    del ballast
    assert after - before < 256 * 1024 * 1024, (before / 2**20, after / 2**20)
