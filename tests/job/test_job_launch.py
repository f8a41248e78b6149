"""How many nodes a job was launched for, read from its launcher's command line; the launch commands printed
outside torchrun; and the job's report as Markdown."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from llamadoctor.job import all_job_checks
from llamadoctor.job_rank import nodes_hint
from llamadoctor.job_report import judge_job, render_job_markdown
from llamadoctor.probes.job import launcher_argv
from llamadoctor.registry import all_checks
from llamadoctor.runner.job_launcher import expected_nodes
from llamadoctor.testing_job import gpu_job, runtime_on_node

PY = "/opt/venv/bin/python"


@pytest.mark.parametrize(
    ("argv", "nodes"),
    [
        ([PY, "-u", "-m", "torch.distributed.run", "--nnodes", "1:4", "--nproc_per_node", "8", "train.py"], 4),
        ([PY, "/opt/venv/bin/torchrun", "--nnodes=2", "--node_rank=1", "-m", "llamadoctor", "check"], 2),
        ([PY, "/opt/venv/bin/torchrun", "--nnode", "3", "train.py"], 3),  # argparse's abbreviation, as torchrun
        ([PY, "/opt/venv/bin/torchrun", "-m", "llamadoctor", "check", "--distributed", "--nnodes", "9"], 1),
        ([PY, "-m", "torch.distributed.launch", "--use-env", "--nnodes", "2", "train.py"], 2),
        ([PY, "/opt/venv/bin/torchrun", "--nnodes", "two", "train.py"], None),
        (["/bin/bash", "launch.sh", "--nnodes", "2"], None),  # not torchrun: unknown, never guessed
        ([], None),
    ],
)
def test_the_node_count_comes_from_torchruns_own_arguments(argv: list[str], nodes: int) -> None:
    assert expected_nodes(argv) == nodes


def test_the_launcher_command_line_is_read_from_proc(tmp_path: Path) -> None:
    (tmp_path / "proc" / "4242").mkdir(parents=True)
    (tmp_path / "proc" / "4242" / "cmdline").write_bytes(b"/usr/bin/python3\0-m\0torch.distributed.run\0\0x.py\0")
    assert launcher_argv(4242, tmp_path) == ["/usr/bin/python3", "-m", "torch.distributed.run", "", "x.py"]
    assert launcher_argv(4243, tmp_path) is None  # gone, or another platform's layout


def test_the_several_machines_launch_is_elastic_and_keeps_the_options() -> None:
    hint = nodes_hint(["check", "--distributed", "--model-dir", "my models"], 8, 2)
    assert hint.startswith("torchrun --nnodes 1:2 --nproc_per_node 8 --rdzv-backend c10d --rdzv-endpoint HEAD:29500")
    assert "--rdzv-conf last_call_timeout=30 --monitor_interval 0.1 -m llamadoctor check --distributed " in hint
    assert hint.endswith("--model-dir 'my models'")
    assert nodes_hint(["check"], None).startswith("torchrun --nnodes 1:NODES --nproc_per_node gpu ")


def test_the_markdown_report_has_each_node_the_job_checks_and_what_differs() -> None:
    job = runtime_on_node(gpu_job(), 1, packages={"torch": "2.3.1+cu121", "transformers": "4.40.0"})
    job = dataclasses.replace(job, nodes_joined=2, nodes_expected=3)
    text = render_job_markdown(judge_job(job, all_checks(), all_job_checks()))
    assert text.startswith("### llamadoctor ") and ": 4 of 4 ranks on 2 of 3 nodes: 1 problem blocks the job" in text
    assert "**Node 0 (ada-0)**: ranks 0-1" in text and "**Node 1 (ada-1)**: ranks 2-3" in text
    assert "- `job-node-missing` error\n  - **error**: 2 of 3 nodes joined the job; node rank 2 never arrived" in text
    assert "| transformers | 4.44.2 | 4.40.0 |" in text and "| fact | node 0 | node 1 |" in text
    assert text.count("<details><summary>node ") == 2
    assert text.rstrip().endswith("exit code 1")


def test_check_own_nnodes_wins_over_the_launcher_and_the_joined_count_is_torchruns() -> None:
    from llamadoctor.runner.job_transport import Settings, _node_count

    assert _node_count(Settings(nodes=3), {"GROUP_WORLD_SIZE": "2"}) == (2, 3)
    assert _node_count(Settings(nodes=3), {}) == (None, 3)
    launcher = ("/usr/bin/python3", "/usr/bin/torchrun", "--nnodes", "1:4", "-m", "llamadoctor", "check")
    assert _node_count(Settings(launcher=launcher), {"GROUP_WORLD_SIZE": "1"}) == (1, 4)
