"""Model parallel under torchrun (gloo on CPU) gives the same tokens as one process merging the shards."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from llamadoctor.runner.cli import app

ARGS = [
    "--prompt",
    "I believe the meaning of life is",
    "--prompt",
    "Simply put",
    "--max-gen-len",
    "12",
    "--temperature",
    "0",
    "--device",
    "cpu",
    "--json",
]


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _torchrun(folder, tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    if sys.platform == "win32":  # Windows wheels have no libuv for torchrun's store (the windows-libuv check)
        env["USE_LIBUV"] = "0"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        _free_port(),
        "-m",
        "llamadoctor",
        "run",
        "text",
        "--model-dir",
        str(folder),
        *ARGS,
    ]
    # Own session so a timeout ends the ranks too, not only the launcher.
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        proc.communicate()
        raise
    assert proc.returncode == 0, stderr[-3000:]
    return json.loads(stdout[stdout.index("{") :])


@pytest.mark.slow
@pytest.mark.parametrize(("family", "fmt", "shards"), [("llama2", "meta", 2), ("llama3.1", "hf", 1)])
def test_two_ranks_give_the_merged_single_process_tokens(model_dir, tmp_path, family, fmt, shards) -> None:
    folder = model_dir(family, fmt, shards)
    single = CliRunner().invoke(app, ["text", "--model-dir", str(folder), *ARGS])
    assert single.exit_code == 0, single.stderr
    expected = json.loads(single.stdout)
    parallel = _torchrun(folder, tmp_path)
    assert parallel["stats"]["world_size"] == 2
    assert parallel["results"] == expected["results"]
