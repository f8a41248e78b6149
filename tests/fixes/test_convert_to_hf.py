"""The convert-to-hf fix: a Meta folder handed to HF tools gets one `llamadoctor convert` command, planned
from facts only; a damaged or too-big-for-the-disk folder gets no command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from llamadoctor.facts import Facts
from llamadoctor.files import Shard
from llamadoctor.fixes.convert_to_hf import MIN_TIMEOUT, output_path
from llamadoctor.model import Finding, Manual, RunCommand, Severity
from llamadoctor.registry import FIXES, load_all
from llamadoctor.testing import linux_gpu
from llamadoctor.testing_files import HOME, llama3_model, meta_model

load_all()


def _finding(path: str) -> Finding:
    """What model-dir-incomplete reports for a Meta folder meant for HF tools."""
    return Finding("model-dir-incomplete", Severity.ERROR, f"{path}: it is in Meta's format ...",
                   ("convert-to-hf",), {"path": path, "format": "meta"})  # fmt: skip


def _plan(facts: Facts, path: str) -> tuple[object, ...]:
    return FIXES["convert-to-hf"].plan(_finding(path), facts)


def test_plans_one_convert_command_beside_the_folder() -> None:
    model = meta_model(path=f"{HOME}/llama-2-7b-chat")
    facts = linux_gpu(models=(model,))
    [action] = _plan(facts, model.path)
    assert isinstance(action, RunCommand)
    assert action.argv == (
        facts.python.executable, "-m", "llamadoctor", "convert", "--model-dir", f"{HOME}/llama-2-7b-chat",
        "--to", "hf", "--out", f"{HOME}/llama-2-7b-chat-hf",
    )  # fmt: skip
    assert action.timeout >= MIN_TIMEOUT


def test_a_meta_folder_named_hf_converts_to_a_new_name() -> None:
    model = llama3_model(path=f"{HOME}/Meta-Llama-3-8B-Instruct-hf")
    assert output_path(model) == f"{HOME}/Meta-Llama-3-8B-Instruct-hf-converted"
    [action] = _plan(linux_gpu(models=(model,)), model.path)
    assert isinstance(action, RunCommand) and action.argv[-1].endswith("-converted")


def test_big_models_get_a_longer_timeout() -> None:
    shards = tuple(Shard(f"consolidated.{i:02d}.pth", 17_240_000_000, "zip", tensors=363) for i in range(8))
    model = meta_model(path=f"{HOME}/llama-2-70b", shards=shards, disk_free=10**12)
    [action] = _plan(linux_gpu(models=(model,)), model.path)
    assert isinstance(action, RunCommand) and action.timeout > 2000


def test_not_enough_disk_is_a_manual_step_with_the_numbers() -> None:
    model = meta_model(path=f"{HOME}/llama-2-7b", disk_free=2 * 10**9)
    [action] = _plan(linux_gpu(models=(model,)), model.path)
    assert isinstance(action, Manual) and "2.0 GB is free" in action.text


@pytest.mark.parametrize(
    "model",
    [
        meta_model(path=f"{HOME}/broken", tokenizer=None),
        meta_model(path=f"{HOME}/broken", shards=()),
        meta_model(path=f"{HOME}/broken", shards=(Shard("consolidated.00.pth", 0, "empty"),)),
        meta_model(path=f"{HOME}/broken", params_error="is empty (0 bytes)"),
    ],
)
def test_no_command_for_a_folder_that_cannot_be_converted(model) -> None:
    assert _plan(linux_gpu(models=(model,)), model.path) == ()


def test_no_command_for_an_unknown_folder() -> None:
    assert _plan(linux_gpu(models=(meta_model(),)), "/elsewhere") == ()


def test_the_planned_command_exists() -> None:
    """`python -m llamadoctor convert` is the lead's registration of runner/convert_cli.convert."""
    help_ = subprocess.run(
        [sys.executable, "-m", "llamadoctor", "convert", "--help"], capture_output=True, text=True, timeout=60
    )
    if help_.returncode != 0:
        pytest.skip("`llamadoctor convert` is not registered in llamadoctor/cli.py yet")
    assert "--model-dir" in help_.stdout and "--out" in help_.stdout
