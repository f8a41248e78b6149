"""Logs as users paste them: the known failures found, root cause first, with the user's own values."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamadoctor.explaining import explain_bytes, explain_text
from llamadoctor.explaining.matching import Log, find
from llamadoctor.failures import FAILURES, search

LOGS = Path(__file__).parent / "logs"
HEALTHY = sorted((Path(__file__).parents[1] / "failures" / "logs" / "healthy").glob("*.log"))
EXPECTED = {
    "crlf-git-bash.log": ["dl-crlf-script"],
    "failed-to-create-process.log": ["torchrun-failed-to-create-process"],
    "nccl-torchrun-windows.log": ["dist-nccl-not-built"],
    "c10d-then-nccl.log": ["dist-nccl-not-built", "dist-c10d-hostname"],
    "oom-new-wording.log": ["gpu-oom-model-too-big"],
    "oom-old-wording.log": ["gpu-oom-model-too-big"],
    "disk-full-convert.log": ["disk-full-on-save"],
    # The run stopped on the empty shard; the 403s that emptied it come next.
    "download-403-then-empty-shards.log": ["truncated-pth", "dl-403-expired-url", "dl-empty-checklist"],
    "unknown-failure.log": [],
}


def explained(name: str):  # type: ignore[no-untyped-def]
    return explain_bytes((LOGS / name).read_bytes())


def test_every_log_has_an_expectation() -> None:
    assert sorted(p.name for p in LOGS.glob("*.log")) == sorted(EXPECTED)


@pytest.mark.parametrize(("name", "ids"), EXPECTED.items())
def test_the_failures_of_a_log_root_cause_first(name: str, ids: list[str]) -> None:
    assert [m.failure.id for m in explained(name).matches] == ids


def test_the_nccl_error_outranks_the_c10d_warnings_before_it_and_the_wrapper_after_it() -> None:
    nccl, c10d = explained("c10d-then-nccl.log").matches
    assert nccl.stopping and nccl.confidence == "high"
    assert nccl.deciding == 26  # the exception line, not the frame quoting the raise
    assert not c10d.stopping and c10d.warning
    assert [n for n, _ in c10d.lines] == [3, 4, 5, 6]  # one match, every line it was seen on
    assert "kubernetes.docker.internal:29500" in c10d.text(c10d.failure.cause)


@pytest.mark.parametrize(
    ("name", "quoted"),
    [("oom-new-wording.log", ("86.00 MiB", "7.78 GiB")), ("oom-old-wording.log", ("86.00 MiB", "12.00 GiB"))],
)
def test_both_oom_wordings_quote_the_sizes_of_the_log(name: str, quoted: tuple[str, ...]) -> None:
    (match,) = explained(name).matches
    cause = match.text(match.failure.cause)
    assert all(value in cause for value in quoted), cause


def test_the_disk_full_failure_is_one_match_with_both_of_its_lines() -> None:
    (match,) = explained("disk-full-convert.log").matches
    assert [n for n, _ in match.lines] == [11, 20]


def test_a_log_with_no_known_failure_shows_its_last_exception() -> None:
    explanation = explained("unknown-failure.log")
    assert explanation.matches == ()
    assert explanation.last_exception == (7, "ZeroDivisionError: float division by zero")


def test_the_last_exception_is_the_real_one_not_torchruns_report_of_it() -> None:
    text = (LOGS / "nccl-torchrun-windows.log").read_text().replace("NCCL built in", "SOMETHING ELSE")
    explanation = explain_text(text)
    assert explanation.matches == ()
    assert explanation.last_exception is not None
    assert explanation.last_exception[1] == "RuntimeError: Distributed package doesn't have SOMETHING ELSE"


def test_a_shell_error_is_the_last_error_of_a_log_without_a_traceback() -> None:
    explanation = explain_text("$ ./run.sh\n./run.sh: line 4: nvidia-smi: command not found\nbye\n")
    assert explanation.last_exception == (2, "./run.sh: line 4: nvidia-smi: command not found")
    assert explain_text("all good\nLoaded in 4.2 seconds\n").last_exception is None


@pytest.mark.parametrize("log", HEALTHY, ids=[p.name for p in HEALTHY])
def test_healthy_runs_explain_to_nothing(log: Path) -> None:
    assert explain_bytes(log.read_bytes()).matches == ()


def _hits(found: list) -> list:  # type: ignore[type-arg]
    return [(h.failure.id, h.signature.pattern, h.line_number, dict(h.values)) for h in found]


@pytest.mark.parametrize("log", [*sorted(LOGS.glob("*.log")), *HEALTHY], ids=lambda p: p.name)
def test_the_fast_matcher_finds_what_the_reference_matcher_finds_in_each_log(log: Path) -> None:
    text = log.read_bytes().decode("utf-8", "replace")
    assert _hits(find(FAILURES, Log.of_text(text))) == _hits(search(FAILURES, text))


def test_the_fast_matcher_finds_what_the_reference_finds_in_every_example() -> None:
    texts = [text for failure in FAILURES for text in (*failure.matches, *failure.ignores)]
    for text in texts:
        assert _hits(find(FAILURES, Log.of_text(text))) == _hits(search(FAILURES, text)), text
    # All of them in one log: the lines of one example must not hide the next one's.
    joined = "\n".join(texts)
    assert _hits(find(FAILURES, Log.of_text(joined))) == _hits(search(FAILURES, joined))
