"""`llamadoctor explain -- COMMAND`: the command line read for the checks, and real failing commands run here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llamadoctor.explaining.command import Intended, parse_command, run_streaming

CHAT = ["example_chat_completion.py", "--ckpt_dir", "llama-2-7b-chat/", "--tokenizer_path", "tokenizer.model"]


@pytest.mark.parametrize(
    ("argv", "intended"),
    [
        (
            ["torchrun", "--nproc_per_node", "2", *CHAT, "--max_seq_len", "512", "--max_batch_size", "6"],
            Intended(None, "torchrun", CHAT[0], 2, "llama-2-7b-chat/", "tokenizer.model", 512, 6),
        ),
        (
            ["python3", "-u", "-m", "torch.distributed.run", "--nproc-per-node=1", "--standalone", *CHAT],
            Intended("python3", "torch.distributed.run", CHAT[0], 1, "llama-2-7b-chat/", "tokenizer.model"),
        ),
        (
            ["C:\\envs\\llama\\python.exe", "example_text_completion.py", "--ckpt-dir=llama-2-7b", "--max_seq_len=128"],
            Intended(
                "C:\\envs\\llama\\python.exe",
                None,
                "example_text_completion.py",
                ckpt_dir="llama-2-7b",
                max_seq_len=128,
            ),
        ),
        (["bash", "download.sh"], Intended(script="download.sh")),
        (["torchrun", "--nproc_per_node", "many", "x.py"], Intended(launcher="torchrun", script="x.py")),
    ],
    ids=["torchrun", "python-m-run", "windows-python", "bash", "bad-number"],
)
def test_the_command_line_says_what_run_it_starts(argv: list[str], intended: Intended) -> None:
    assert parse_command(argv) == intended


def test_output_is_shown_live_and_its_end_kept() -> None:
    shown: list[str] = []
    code = "import sys; print('a'); sys.stdout.write('prompt: '); sys.stdout.flush(); sys.exit(3)"
    finished = run_streaming([sys.executable, "-c", code], shown.append, timeout=60)
    assert finished.returncode == 3 and not finished.timed_out
    assert "".join(shown) == finished.tail == "a\nprompt: "


def test_a_command_past_its_deadline_is_stopped() -> None:
    finished = run_streaming([sys.executable, "-c", "import time; time.sleep(60)"], lambda _: None, timeout=0.5)
    assert finished.timed_out and finished.returncode == 124


def explain(*command: str, cwd: Path, checks: bool = False) -> tuple[int, str, str]:
    args = [sys.executable, "-m", "llamadoctor", "explain", *([] if checks else ["--no-checks"]), "--", *command]
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_crlf_script_run_by_bash_is_explained_and_confirmed_here(tmp_path: Path) -> None:
    (tmp_path / "download.sh").write_bytes(b"#!/bin/bash\r\n\r\nset -e\r\necho Downloading\r\n\r\n")
    code, out, err = explain("bash", "download.sh", cwd=tmp_path, checks=True)
    assert code == 127, err  # bash's own exit code, passed through
    before, _, after = out.partition("Downloading")
    assert "download-script-crlf" in before  # the checks the command line made relevant ran first
    assert "dl-crlf-script" in after and "confirmed here" in after
    assert "sed -i 's/\\r$//' download.sh" in after


def test_a_torchrun_of_nccl_without_a_usable_gpu_is_explained(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("NCCL runs on this machine's GPU: there is no failure to explain")
    # A CPU build has no NCCL at all; a CUDA build has it, but no GPU for it to use.
    expected = "nccl-without-gpu" if torch.distributed.is_nccl_available() else "dist-nccl-not-built"
    (tmp_path / "nccl.py").write_text('import torch.distributed as dist\ndist.init_process_group("nccl")\n')
    args = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1", "nccl.py"]
    done = subprocess.run(
        [sys.executable, "-m", "llamadoctor", "explain", "--json", "--no-checks", "--", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    data = json.loads(done.stdout)
    assert done.returncode == 1 and data["command"] == {"returncode": 1, "timed_out": False}
    assert data["matches"][0]["id"] == expected
    assert "ChildFailedError" in done.stderr  # with --json the command's own output goes to stderr


def test_a_cuda_style_oom_raised_by_python_is_explained(tmp_path: Path) -> None:
    script = (
        "class OutOfMemoryError(RuntimeError):\n    pass\n"
        "raise OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of"
        " 11.99 GiB of which 1.02 GiB is free.')\n"
    )
    (tmp_path / "oom.py").write_text(script)
    code, out, _ = explain(sys.executable, "oom.py", cwd=tmp_path)
    assert code == 1
    assert "gpu-oom-model-too-big" in out and "2.00 GiB" in out and "11.99 GiB" in out


def test_a_command_that_succeeds_quietly_is_left_alone(tmp_path: Path) -> None:
    code, out, _ = explain(sys.executable, "-c", "print('Loaded in 4.2 seconds')", cwd=tmp_path)
    assert code == 0 and out == "Loaded in 4.2 seconds\n"


def test_a_failure_with_nothing_known_shows_the_last_error(tmp_path: Path) -> None:
    code, out, _ = explain(sys.executable, "-c", "1/0", cwd=tmp_path)
    assert code == 1
    assert "No known failure" in out and "ZeroDivisionError: division by zero" in out


def test_a_checkpoint_folder_that_is_not_there_is_said_before_the_run(tmp_path: Path) -> None:
    code, out, _ = explain(sys.executable, "-c", "pass", "--ckpt_dir", "llama-2-7b/", cwd=tmp_path, checks=True)
    assert code == 0 and "--ckpt_dir llama-2-7b/: no such folder here" in out


def test_a_missing_program_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, out, err = explain("no-such-program-here", cwd=tmp_path)
    assert code == 2 and "cannot run no-such-program-here" in err and "Traceback" not in out + err
