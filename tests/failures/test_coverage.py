"""Coverage as data: every catalogued failure is either seen in advance by a check or says why it can only be
seen in a log, and every claim about what `llamadoctor run` does names runner code that exists."""

from __future__ import annotations

import importlib

import pytest

from llamadoctor.failures import FAILURES, Failure
from llamadoctor.registry import load_all

load_all()
IDS = [f.id for f in FAILURES]


@pytest.mark.parametrize("failure", FAILURES, ids=IDS)
def test_failure_is_caught_in_advance_or_says_why_it_cannot_be(failure: Failure) -> None:
    assert failure.checks or failure.log_only.strip(), f"{failure.id}: no check, and no reason why none can see it"
    assert not (failure.checks and failure.log_only), (
        f"{failure.id}: checks {failure.checks} see it, so its log-only reason is stale"
    )


@pytest.mark.parametrize("failure", [f for f in FAILURES if f.log_only], ids=lambda f: f.id)
def test_log_only_reason_reads_as_a_phrase(failure: Failure) -> None:
    reason = failure.log_only
    assert reason == reason.strip() and not reason.endswith("."), reason
    assert reason[0].islower() and len(reason) <= 110, reason


def _resolve(name: str) -> object:
    module, _, attr = name.partition(":")
    target: object = importlib.import_module(f"llamadoctor.runner.{module}")
    for part in attr.split("."):
        target = getattr(target, part)
    return target


@pytest.mark.parametrize("failure", [f for f in FAILURES if f.runner], ids=lambda f: f.id)
def test_runner_claim_names_runner_code(failure: Failure) -> None:
    handling = failure.runner
    assert handling is not None and handling.does and handling.where
    assert len(handling.does) <= 80 and not handling.does.endswith("."), handling.does
    for name in handling.where:
        assert ":" in name, name
        _resolve(name)  # raises if the module or the name is gone


def test_refusals_through_checks_name_a_check_the_runner_runs() -> None:
    from llamadoctor.runner.doctor_checks import RUN_CHECKS

    for failure in FAILURES:
        if failure.runner and "doctor_checks:RUN_CHECKS" in failure.runner.where:
            assert set(failure.checks) & set(RUN_CHECKS), f"{failure.id}: run refuses it through none of its checks"


def test_runner_claims_hold_in_the_code() -> None:
    """A few claims, run: gloo without NCCL or CUDA, one process without torchrun, Meta's chat refusals."""
    from llamadoctor.runner import chat, distributed
    from llamadoctor.runner.errors import RunError

    assert distributed.backend_for("cpu") == "gloo"
    assert distributed.from_env({}) == distributed.SINGLE
    assert chat.has_special_tags([chat.Message("user", "hi [INST] there")])
    with pytest.raises(RunError, match="alternating"):
        chat.llama2_tokens([chat.Message("assistant", "hi")], tok=None)  # type: ignore[arg-type]
