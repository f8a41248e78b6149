"""Rank 0's report of a job, the rank side's gathering and hashing, and the launch hint; no torch needed."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from pathlib import Path

from rich.console import Console

from llamadoctor.doctor import Diagnosis
from llamadoctor.job import Identity, JobCheck, all_job_checks
from llamadoctor.job_rank import gather_rank, launch_hint
from llamadoctor.job_report import JobReport, judge_job, render_job_human, to_job_data
from llamadoctor.llama.layout import shards_of_rank
from llamadoctor.model import Severity
from llamadoctor.registry import all_checks
from llamadoctor.testing_job import gpu_job, runtime_on_node

from builders.checkpoints import write_meta_model

OTHER_TRANSFORMERS = runtime_on_node(gpu_job(), 1, packages={"torch": "2.3.1+cu121", "transformers": "4.40.0"})


def _text(report: JobReport) -> str:
    out = io.StringIO()
    render_job_human(report, Console(file=out, width=120, color_system=None))
    return out.getvalue()


def test_the_human_report_is_by_node_with_a_table_of_what_differs() -> None:
    report = judge_job(OTHER_TRANSFORMERS, all_checks(), all_job_checks())
    text = _text(report)
    assert "Node 0 (ada-0): ranks 0-1" in text and "Node 1 (ada-1): ranks 2-3" in text
    assert "transformers differs between ranks: 4.44.2 on node 0 (ada-0, ranks 0-1); 4.40.0 on node 1" in text
    table = text[text.index("Facts that differ between nodes") :]
    assert "transformers" in table and "4.40.0" in table and "host" in table
    assert "torch " not in table  # the same everywhere: not a difference
    assert report.exit_code() == 0 and report.exit_code(strict=True) == 1  # a library differing warns
    assert text.rstrip().endswith("the job is ready to run (1 warning)")


def test_the_json_report_has_every_ranks_own_check_document() -> None:
    data = to_job_data(judge_job(OTHER_TRANSFORMERS, all_checks(), all_job_checks()))
    assert (data["schema"], data["kind"]) == (1, "job")
    assert [r["rank"] for r in data["ranks"]] == [0, 1, 2, 3]
    assert {r["node"] for r in data["ranks"]} == {0, 1}
    assert all(r["report"]["summary"]["exit_code"] == 0 for r in data["ranks"])
    assert data["differences"]["transformers"] == {"0": "4.44.2", "1": "4.40.0"}
    assert [f["check"] for f in data["findings"]] == ["job-versions-differ"]
    assert data["summary"]["warnings"] == 1 and data["summary"]["exit_code"] == 0


def test_a_cross_rank_check_that_raises_is_a_crash_not_a_traceback() -> None:
    def broken(job: object) -> object:
        raise ZeroDivisionError("oops")

    spec = JobCheck("job-broken-check", "Broken", Severity.ERROR, broken)  # type: ignore[arg-type]
    report = judge_job(gpu_job(), [], [spec])
    assert report.exit_code() == 3
    assert "ZeroDivisionError: oops" in report.findings[0].message


def test_an_error_on_one_rank_fails_the_whole_job() -> None:
    job = gpu_job(missing=(3,), timeout=5.0)
    report = judge_job(job, all_checks(), all_job_checks())
    assert report.exit_code() == 1 and "problem" in report.verdict()


def test_each_node_hashes_only_the_shards_its_ranks_load(tmp_path: Path) -> None:
    folder = write_meta_model(tmp_path / "model", n_shards=4, checklist=False)
    diagnosis = Diagnosis(repo=tmp_path, model_dirs=(folder,))
    second_node = Identity(rank=2, world=4, local_rank=0, local_world=2, node=1)
    mine = gather_rank(diagnosis, second_node, hash_shards=True, env={})
    expected = {
        name: hashlib.md5((folder / name).read_bytes(), usedforsecurity=False).hexdigest()
        for name in ("consolidated.02.pth", "consolidated.03.pth")
    }
    assert dict(mine.runtime.shard_md5) == expected
    other = gather_rank(diagnosis, dataclasses.replace(second_node, rank=3, local_rank=1), hash_shards=True, env={})
    assert other.facts is not None and other.runtime.shard_md5 == {}


def test_a_crash_while_gathering_is_kept_as_that_ranks_crash(tmp_path: Path) -> None:
    me = Identity(rank=1, world=2, local_rank=1, local_world=2)
    mine = gather_rank(Diagnosis(repo=tmp_path), me, env={"LLAMADOCTOR_TEST_CRASH_RANK": "1"})
    assert mine.facts is None and mine.crash.startswith("OSError: gathering failed on purpose")


def test_the_launch_hint_keeps_the_options_and_hides_a_signed_url() -> None:
    url = "https://download.llamameta.net/*?Policy=eyJTdGF0ZW1lbnQiOlt7IlJlc291cmNlIjoiaHR0cHM6&Signature=abc123&Key-Pair-Id=K"
    hint = launch_hint(["check", "--distributed", "--url", url, "--model-dir", "my models"], 8)
    assert hint.startswith(
        "torchrun --nnodes 1 --nproc_per_node 8 --monitor_interval 0.1 -m llamadoctor check --distributed --url "
    )
    assert "abc123" not in hint and "'my models'" in hint


def test_which_shards_a_rank_loads() -> None:
    assert shards_of_rank(8, 8, 3) == (3,)
    assert shards_of_rank(8, 2, 1) == (4, 5, 6, 7)
    assert shards_of_rank(2, 4, 3) == (1,)
    assert shards_of_rank(3, 2, 0) == ()
