"""Signed URLs: expiry from the policy, mangling, and that secrets never reach any output."""

from __future__ import annotations

import json

import pytest

from llamadoctor.checks.download_url import EXAMPLE_EXPIRY, EXAMPLE_POLICY, EXAMPLE_URL
from llamadoctor.facts import Options
from llamadoctor.registry import CHECKS, load_all, run_check
from llamadoctor.signed_url import inspect_url, policy_expiry, redact_text, redact_url
from llamadoctor.testing import linux_cpu

load_all()
SECRETS = (EXAMPLE_POLICY, "Zm9vYmFyc2lnbmF0dXJl", "K15QRJLYKIFSLZ", "1234567890")


def test_policy_expiry_is_read_from_cloudfront_base64() -> None:
    assert policy_expiry(EXAMPLE_POLICY) == EXAMPLE_EXPIRY
    assert policy_expiry("not-base64!!") is None
    assert policy_expiry("e30_") is None  # "{}": no statement


@pytest.mark.parametrize(
    "url",
    [
        EXAMPLE_URL,
        EXAMPLE_URL.replace("&", "&amp;"),
        EXAMPLE_URL.replace("&", "&amp;amp;"),
        " " + EXAMPLE_URL + "\n",
    ],
)
def test_redact_url_hides_every_secret(url: str) -> None:
    shown = redact_url(url)
    assert not any(secret in shown for secret in SECRETS)
    assert "llama3-1.llamameta.net" in shown and "Signature=…" in shown


def test_redact_text_finds_secrets_inside_prose() -> None:
    text = f"wget 'https://x/*?Policy={EXAMPLE_POLICY}&Signature=abc' failed"
    assert EXAMPLE_POLICY not in redact_text(text) and "Signature=abc" not in redact_text(text)


def _messages(url: str, now: float) -> list[str]:
    facts = linux_cpu(options=Options(url=url, now=now))
    findings = list(run_check(CHECKS["download-url-invalid"], facts))
    # nothing that leaves the check (message, evidence as JSON) carries a secret
    dumped = json.dumps([[f.message, dict(f.evidence), f.remedy] for f in findings], default=str)
    assert not any(secret in dumped for secret in SECRETS)
    return [f.message for f in findings]


@pytest.mark.parametrize(
    ("url", "now", "expect"),
    [
        pytest.param(EXAMPLE_URL, EXAMPLE_EXPIRY + 2 * 86400, "expired 48 h ago", id="expired"),
        pytest.param(EXAMPLE_URL, EXAMPLE_EXPIRY + 400 * 86400, "expired 400 days ago", id="expired-long-ago"),
        pytest.param(EXAMPLE_URL, EXAMPLE_EXPIRY - 600, "expires in 10 min", id="expiring"),
        pytest.param(EXAMPLE_URL.replace("&", "&amp;"), EXAMPLE_EXPIRY - 7200, "&amp;", id="amp"),
        pytest.param(EXAMPLE_URL.split("?")[0], EXAMPLE_EXPIRY - 7200, "lost its query", id="no-query"),
        pytest.param(
            EXAMPLE_URL.split("&")[0],
            EXAMPLE_EXPIRY - 7200,
            "Signature, Key-Pair-Id missing",
            id="cut-at-ampersand",
        ),
        pytest.param(EXAMPLE_URL[:60] + "\n" + EXAMPLE_URL[60:], EXAMPLE_EXPIRY - 7200, "line breaks", id="wrapped"),
        pytest.param("ada@example.com", 0, "email address", id="email"),
        pytest.param(EXAMPLE_URL.replace("https://", ""), EXAMPLE_EXPIRY - 7200, "Scheme missing", id="no-scheme"),
        pytest.param(
            EXAMPLE_URL.replace("llama3-1.llamameta.net", "www.llama.com"),
            EXAMPLE_EXPIRY - 7200,
            "not a *.llamameta.net",
            id="wrong-host",
        ),
        pytest.param(
            EXAMPLE_URL.replace("Policy=ey", "Policy=%%"),
            EXAMPLE_EXPIRY - 7200,
            "cannot be decoded",
            id="damaged-policy",
        ),
    ],
)
def test_url_problems(url: str, now: float, expect: str) -> None:
    messages = _messages(url, now)
    assert any(expect in m for m in messages), messages


def test_fresh_url_is_healthy_and_unknown_clock_cannot_expire() -> None:
    assert _messages(EXAMPLE_URL, EXAMPLE_EXPIRY - 7200) == []
    report = inspect_url(EXAMPLE_URL, None)
    assert report.problems == () and report.expires == EXAMPLE_EXPIRY
