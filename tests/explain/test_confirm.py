"""Confirmation on this machine: the failure's linked checks, judged over Facts built for each platform."""

from __future__ import annotations

from llamadoctor.explaining import explain_text
from llamadoctor.explaining.confirm import CANT_TELL, CONFIRMED, NOT_HERE, confirm, judge_here, linked_checks
from llamadoctor.failures import by_id
from llamadoctor.testing import linux_gpu, replace_in, windows_conda

NCCL = "RuntimeError: Distributed package doesn't have NCCL built in\n"


def verdict(facts, failure_id: str) -> str:  # type: ignore[no-untyped-def]
    failure = by_id()[failure_id]
    return confirm(failure, judge_here(facts, linked_checks([failure]))).verdict


def test_nccl_missing_is_confirmed_on_windows_and_not_the_case_on_a_cuda_linux() -> None:
    assert verdict(windows_conda(), "dist-nccl-not-built") == CONFIRMED
    assert verdict(replace_in(linux_gpu(), "torch", nccl=True), "dist-nccl-not-built") == NOT_HERE


def test_a_failure_no_check_looks_for_cannot_be_told() -> None:
    no_checks = next(f for f in by_id().values() if not f.checks)
    result = confirm(no_checks, judge_here(linux_gpu(), []))
    assert result.verdict == CANT_TELL and result.why == "no check of this machine looks for it"


def test_checks_that_do_not_apply_here_cannot_tell() -> None:
    # The CRLF check needs a download.sh to look at; these Facts have none.
    assert verdict(linux_gpu(), "dl-crlf-script") == CANT_TELL


def test_each_linked_check_runs_once_for_all_matches() -> None:
    matches = explain_text(NCCL + "ProcessGroupNCCL is only supported with GPUs, no GPUs found!\n").matches
    ids = linked_checks([m.failure for m in matches])
    assert len(ids) == len(set(ids)) and "meta-code-hardcodes-nccl" in ids
