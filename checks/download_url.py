"""The signed download URL the user pasted (--url): expired, mangled, truncated, or not a URL at all."""

from __future__ import annotations

import time
from collections.abc import Iterator

from llamadoctor.checks._requires import URL
from llamadoctor.facts import Facts, Options
from llamadoctor.i18n import _
from llamadoctor.model import Broken, Group, Healthy, Inapplicable, Outcome, Passed, Severity
from llamadoctor.registry import check
from llamadoctor.signed_url import inspect_url
from llamadoctor.testing import linux_cpu

# A made-up but well-formed link: its policy expires at 1721000000 (2024-07-14 23:33 UTC).
EXAMPLE_POLICY = (
    "eyJTdGF0ZW1lbnQiOlt7IlJlc291cmNlIjoiaHR0cHM6Ly9sbGFtYTMtMS5sbGFtYW1ldGEubmV0LyoiLCJDb25kaXRp"
    "b24iOnsiRGF0ZUxlc3NUaGFuIjp7IkFXUzpFcG9jaFRpbWUiOjE3MjEwMDAwMDB9fX1dfQ__"
)
EXAMPLE_URL = (
    f"https://llama3-1.llamameta.net/*?Policy={EXAMPLE_POLICY}&Signature=Zm9vYmFyc2lnbmF0dXJl"
    "&Key-Pair-Id=K15QRJLYKIFSLZ&Download-Request-ID=1234567890"
)
EXAMPLE_EXPIRY = 1721000000.0


def _url(url: str, now: float = EXAMPLE_EXPIRY - 3 * 3600) -> Facts:
    return linux_cpu(options=Options(url=url, now=now))


@check(
    id="download-url-invalid",
    summary="The pasted download URL cannot work",
    severity=Severity.ERROR,
    group=Group.DOWNLOAD,
    requires=(URL,),
    examples=(
        Healthy(_url(EXAMPLE_URL)),
        Inapplicable(linux_cpu(), expect="no --url given"),
        Broken(_url(EXAMPLE_URL, now=EXAMPLE_EXPIRY + 7200), expect="expired 2 h ago"),
        Broken(_url(EXAMPLE_URL.replace("&", "&amp;")), expect="&amp;"),
        Broken(_url(EXAMPLE_URL.split("?")[0]), expect="lost its query"),
        Broken(_url("ada@example.com"), expect="email address"),
    ),
)
def download_url_invalid(facts: Facts) -> Iterator[Outcome]:
    """What it checks: the signed URL given with --url, the way download.sh will use it: its expiry (read from
    the CloudFront Policy inside it), `&amp;` where `&` belongs, a lost query string, spaces from line
    wrapping,
    a missing `*`, a host that is not Meta's, or an email address pasted instead of the link. The link's
    secrets (Policy, Signature, Key-Pair-Id) are never printed.

    Why it matters: all of these end as `ERROR 403: Forbidden` from wget, and Llama 2's download.sh then
    leaves 0-byte files in place of good ones (the later errors look unrelated: empty checklist, JSON errors,
    "failed finding central directory").

    How to fix: request a new link at https://www.llama.com/llama-downloads (links last 24 hours and a
    limited number of downloads), copy the text of the link itself, and paste it raw at download.sh's prompt.
    """
    url = facts.options.url or ""
    report = inspect_url(url, facts.options.now)
    expires = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(report.expires)) if report.expires is not None else None
    if report.problems:
        yield download_url_invalid.finding(
            # TRANSLATORS: {problems} are what is wrong with the link, each a clause, joined by "; ".
            _("The download URL {url} cannot work: {problems}.").format(
                url=report.shown, problems=_("; ").join(report.problems)
            ),
            url=report.shown,
            host=report.host,
            expires=expires,
        )
        return
    now = facts.options.now
    if report.expires is not None and now is not None and report.expires - now < 3600:
        minutes = int((report.expires - now) // 60)
        yield download_url_invalid.finding(
            _(
                "The download URL {url} expires in {minutes} min ({expires}): a large model will not finish "
                "downloading in time; request a new link at llama.com first."
            ).format(url=report.shown, minutes=minutes, expires=expires),
            severity=Severity.WARNING,
            url=report.shown,
            expires=expires,
        )
    else:
        if expires:
            yield Passed(
                _("the --url for {host}: well formed, valid until {expires}").format(host=report.host, expires=expires)
            )
        else:
            yield Passed(_("the --url for {host}: well formed, expiry unknown").format(host=report.host))
