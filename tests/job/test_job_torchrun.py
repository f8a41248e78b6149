"""`check --distributed` under real torchrun processes, over loopback only: one report from many ranks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from builders.checkpoints import write_meta_model

TIMEOUT = 180  # each command's bound: torch's import costs seconds per process on a busy 2-core machine


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env.update(extra or {})
    return env


def _torchrun(
    python: str, nodes: int, node: int, per_node: int, port: int, args: Sequence[str], cwd: Path, **env: str
) -> subprocess.Popen[str]:
    argv = [
        python, "-m", "torch.distributed.run", "--nnodes", str(nodes), "--node_rank", str(node),
        "--nproc_per_node", str(per_node), "--master_addr", "127.0.0.1", "--master_port", str(port),
        "-m", "llamadoctor", "check", "--distributed", "--json", *args,
    ]  # fmt: skip
    return subprocess.Popen(argv, cwd=cwd, env=_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"torchrun did not finish in {TIMEOUT} s: {err[-2000:]}") from None
    return proc.returncode, out, err


def _report(out: str, err: str) -> dict[str, Any]:
    assert out.strip(), err[-3000:]
    return json.loads(out)  # type: ignore[no-any-return]


def _messages(report: Mapping[str, Any]) -> list[str]:
    return [f["message"] for f in report["findings"]]


def test_two_local_ranks_send_their_facts_to_one_report(tmp_path: Path) -> None:
    code, out, err = _finish(_torchrun(sys.executable, 1, 0, 2, _port(), ["--timeout", "60"], tmp_path))
    report = _report(out, err)
    assert [r["rank"] for r in report["ranks"]] == [0, 1]
    assert all(r["report"]["facts"]["python"]["executable"] for r in report["ranks"])
    assert out.count('"schema"') == 1 + 2  # one document (with each rank's own report inside), printed once
    statuses = {c["check"]: c["status"] for c in report["checks"]}
    assert statuses["job-rank-unanswered"] == "passed" and statuses["job-collective-slow"] == "passed"
    (gloo,) = report["job"]["collectives"]
    assert gloo["backend"] == "gloo" and all(s and s > 0 for s in gloo["seconds"].values())
    assert code == report["summary"]["exit_code"]


def _second_venv(root: Path, transformers: str) -> str:
    """A venv of its own over this one's packages, but with another transformers installed (its metadata)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=TIMEOUT)
    site = root / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    ours = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "zz_shared.pth").write_text(f"import site; list(map(site.addsitedir, {ours!r}))\n")
    meta = site / f"transformers-{transformers}.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: transformers\nVersion: {transformers}\n")
    return str(root / "bin" / "python")


def test_two_nodes_name_the_node_with_other_versions_and_a_missing_shard(tmp_path: Path) -> None:
    node0, node1 = tmp_path / "node0", tmp_path / "node1"
    write_meta_model(node0 / "model", n_shards=2, checklist=False)
    write_meta_model(node1 / "model", n_shards=2, checklist=False)
    (node1 / "model" / "consolidated.01.pth").unlink()
    other = _second_venv(tmp_path / "venv1", "4.0.0")
    port, args = _port(), ["--model-dir", "model", "--timeout", "90"]
    first = _torchrun(sys.executable, 2, 0, 1, port, args, node0)
    second = _torchrun(other, 2, 1, 1, port, args, node1)
    try:
        (code, out, err), (code1, out1, _) = _finish(first), _finish(second)
    finally:  # a launcher left waiting for its peer would wait out torchrun's own ten minutes
        for proc in (first, second):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    report = _report(out, err)
    messages = _messages(report)
    assert any(m.startswith("transformers differs between ranks") and "4.0.0 on node 1" in m for m in messages)
    assert any("node 1" in m and "consolidated.01.pth is missing" in m for m in messages), messages
    assert report["differences"]["transformers"]["1"] == "4.0.0"
    assert report["differences"]["interpreter"]["1"].startswith(str(tmp_path / "venv1"))
    assert out1 == ""  # only rank 0 prints
    assert code == code1 == 1


def test_a_node_whose_ranks_never_answer_is_named_within_the_timeout(tmp_path: Path) -> None:
    """Node 1's launcher joins, but its rank never gets to the check (a hung import, another command): rank 0
    names it within --timeout and the job exits non-zero instead of hanging."""
    hang = tmp_path / "hang.py"
    # Hangs until its launcher is gone (torchrun starts ranks in sessions of their own), two minutes at most.
    hang.write_text(
        "import os, time\nparent = os.getppid()\nfor _ in range(600):\n"
        "    if os.getppid() != parent:\n        break\n    time.sleep(0.2)\n"
    )
    port = _port()
    started = time.monotonic()
    first = _torchrun(sys.executable, 2, 0, 1, port, ["--timeout", "4"], tmp_path)
    argv = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node_rank", "1", "--nproc_per_node",
            "1", "--master_addr", "127.0.0.1", "--master_port", str(port), str(hang)]  # fmt: skip
    second = subprocess.Popen(
        argv, cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        code, out, err = _finish(first)
    finally:  # the launcher and the rank it started
        os.killpg(second.pid, signal.SIGKILL)
        second.wait()
    report = _report(out, err)
    assert "rank 1 (node 1) did not answer within 4 s." in _messages(report)
    assert report["job"]["missing"] == [1]
    assert code != 0
    assert time.monotonic() - started < 90


def test_an_elastic_job_names_the_node_that_never_started(tmp_path: Path) -> None:
    """Two nodes asked for (--nnodes 1:2, c10d rendezvous), only the first started: torchrun starts it alone once
    the rendezvous window closes, and rank 0 reads the launcher's --nnodes and reports the node that never came."""
    argv = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1:2", "--nproc_per_node", "2",
        "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{_port()}", "--rdzv-conf", "last_call_timeout=2",
        "-m", "llamadoctor", "check", "--distributed", "--json", "--timeout", "30",
    ]  # fmt: skip
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    code, out, err = _finish(proc)
    report = _report(out, err)
    assert (report["job"]["nodes_joined"], report["job"]["nodes_expected"]) == (1, 2)
    (finding,) = [f for f in report["findings"] if f["check"] == "job-node-missing"]
    assert finding["message"].startswith("1 of 2 nodes joined the job; node rank 1 never arrived (came: node 0 (")
    assert finding["evidence"]["missing"] == [1]
    assert [r["rank"] for r in report["ranks"]] == [0, 1]  # the node that came is checked in full
    assert report["summary"]["verdict"].startswith("2 of 2 ranks on 1 of 2 nodes: ")
    assert code == 1
    assert time.monotonic() - started < 90


def test_a_rank_whose_gathering_crashes_is_reported_as_that_ranks_crash(tmp_path: Path) -> None:
    proc = _torchrun(sys.executable, 1, 0, 2, _port(), ["--timeout", "60"], tmp_path, LLAMADOCTOR_TEST_CRASH_RANK="1")
    code, out, err = _finish(proc)
    report = _report(out, err)
    crashed = report["ranks"][1]
    assert crashed["report"] is None and "gathering failed on purpose" in crashed["crash"]
    assert any(m.startswith("rank 1 (node 0") and "crashed while gathering" in m for m in _messages(report))
    assert report["ranks"][0]["report"]["checks"]  # the rest of the report is intact
    assert code == 1


def test_the_job_report_in_markdown_for_an_issue(tmp_path: Path) -> None:
    argv = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "1", "--master_addr",
        "127.0.0.1", "--master_port", str(_port()), "-m", "llamadoctor", "check", "--distributed", "--markdown",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    code, out, err = _finish(proc)
    assert out.startswith("### llamadoctor "), err[-2000:]
    assert "1 of 1 ranks on 1 node" in out.splitlines()[0]
    assert "**Node 0 (" in out and "- `job-rank-unanswered` passed: 1 of 1 ranks answered" in out
    assert out.rstrip().endswith(f"exit code {code}")


def test_without_torchrun_it_says_how_to_launch(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "llamadoctor", "check", "--distributed", "--nproc", "2", "--timeout", "5"]
    done = subprocess.run(argv, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 2
    launch = "torchrun --nnodes 1 --nproc_per_node 2 --monitor_interval 0.1 -m llamadoctor check --distributed"
    assert f"{launch} --nproc 2 --timeout 5" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2


def test_the_job_options_are_refused_without_distributed(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "llamadoctor", "check", "--hash"]
    done = subprocess.run(argv, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 2 and "--hash, --timeout and --nnodes belong to --distributed" in done.stderr


def test_one_report_has_one_format(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "llamadoctor", "check", "--distributed", "--json", "--markdown"]
    done = subprocess.run(argv, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 2 and "--json and --markdown cannot go together" in done.stderr
