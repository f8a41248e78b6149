"""Ranking with failures made for the test: root cause first, repeats merged, confidence from the evidence."""

from __future__ import annotations

from llamadoctor.explaining import explain_text
from llamadoctor.failures import Failure, Signature, Step


def failure(fid: str, pattern: str, **kind: bool) -> Failure:
    return Failure(
        id=fid,
        step=Step.RUN,
        title=fid,
        signatures=(Signature(pattern, **kind),),
        cause="c",
        fix="f",
        matches=("x",),
        ignores=("y",),
    )


HINT = failure("hint", r"slow path taken", warning=True)
FIRST = failure("first", r"FirstError: boom")
SECOND = failure("second", r"SecondError: bang")
VAGUE = failure("vague", r"something odd", weak=True)
SET = (HINT, FIRST, SECOND, VAGUE)


def ranked(text: str) -> list[tuple[str, str]]:
    return [(m.failure.id, m.confidence) for m in explain_text(text, SET).matches]


def test_the_error_that_stopped_the_run_outranks_the_warning_printed_before_it() -> None:
    log = "slow path taken\nslow path taken\nTraceback (most recent call last):\n  File x\nFirstError: boom\n"
    assert ranked(log) == [("first", "high"), ("hint", "medium")]


def test_among_errors_the_first_to_stop_the_run_comes_first() -> None:
    log = "Traceback:\nSecondError: bang\nDuring handling of the above exception:\nTraceback:\nFirstError: boom\n"
    assert [fid for fid, _ in ranked(log)] == ["second", "first"]


def test_an_exception_outranks_an_earlier_error_message_that_is_not_one() -> None:
    log = "note: FirstError: boom was logged and ignored\nSecondError: bang\nmore\nmore\nmore\n"
    assert [fid for fid, _ in ranked(log)] == ["second", "first"]


def test_every_rank_printing_the_error_is_one_match_with_all_its_lines() -> None:
    log = "".join(f"[rank{r}]: FirstError: boom\n" for r in range(4))
    (match,) = explain_text(log, SET).matches
    assert [n for n, _ in match.lines] == [1, 2, 3, 4]
    assert {text for _, text in match.lines} == {"FirstError: boom"}


def test_confidence_follows_the_evidence() -> None:
    assert ranked("something odd\nFirstError: boom\n") == [("first", "high"), ("vague", "low")]
    assert ranked("slow path taken\nok\nok\nok\n") == [("hint", "low")]  # a lone warning
    assert ranked("a FirstError: boom in the middle\nok\nok\nok\n") == [("first", "medium")]


def test_a_failure_on_the_last_lines_of_a_log_without_traceback_stopped_it() -> None:
    (match,) = explain_text("starting\nwork\nwork\nslow\nfatal: SecondError: bang\n", SET).matches
    assert match.stopping and match.confidence == "high"
    (match,) = explain_text("starting\nwork\nsomething odd\n", SET).matches
    assert not match.stopping and match.confidence == "low"  # a weak hint proves nothing, even at the end
