"""Meta's signed download URLs: read what can be read from one, and never show its secret parts.

A download link from llama.com looks like `https://llama3-1.llamameta.net/*?Policy=<b64>&Signature=<sig>&
Key-Pair-Id=<id>&Download-Request-ID=<n>`. The Policy is CloudFront's base64 (with `-_~` for `+=/`) of a JSON
document whose `Condition.DateLessThan.AWS:EpochTime` is the expiry. Signature, Policy and Key-Pair-Id are
credentials: `redact_url` shows a link with every query value blanked; everything printed also passes through
`llamadoctor.redact` on its way out.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from llamadoctor.i18n import _
from llamadoctor.redact import MASK, redact

REDACTED = "…"
# name=value pairs in a query, also after a mangled `&amp;`
_PARAM = re.compile(
    r"(?P<sep>[?&;]|&amp;)(?P<name>[A-Za-z][A-Za-z0-9_.-]*)=(?P<value>(?:" + re.escape(MASK) + r"|[^&\s#\"'<>])*)"
)
_SECRET_NAMES = (
    "policy",
    "signature",
    "key-pair-id",
    "download-request-id",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "token",
)
_EMAIL = re.compile(r"^[^@\s/:]+@[^@\s/]+\.[A-Za-z]{2,}$")


def redact_url(url: str) -> str:
    """The URL with the value of every query parameter replaced by `…`, names kept: safe to print."""
    return _PARAM.sub(lambda m: f"{m['sep']}{m['name']}={REDACTED}", redact(url))


def redact_text(text: str) -> str:
    """Any text with signed-URL secrets (Policy=, Signature=, Key-Pair-Id=, ...) blanked out, wherever."""
    return redact(text)


@dataclass(frozen=True)
class UrlReport:
    """What is wrong with a pasted download URL. `problems` are sentences that are safe to print."""

    shown: str  # the redacted URL
    host: str
    expires: float | None  # epoch seconds from the Policy, None when it cannot be read
    problems: tuple[str, ...]


def _decode_policy(policy: str) -> Any:
    policy = policy.strip()
    cloudfront = policy.replace("-", "+").replace("_", "=").replace("~", "/")
    urlsafe = policy.rstrip("=") + "=" * (-len(policy.rstrip("=")) % 4)
    for decode, text in ((base64.b64decode, cloudfront), (base64.urlsafe_b64decode, urlsafe)):
        try:
            return json.loads(decode(text).decode("utf-8"))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue
    return None


LAST_CALENDAR_SECOND = 253402300800  # 10000-01-01 UTC


def policy_expiry(policy: str) -> float | None:
    """`Condition.DateLessThan.AWS:EpochTime` of a CloudFront policy (CloudFront base64 or base64url)."""
    data = _decode_policy(policy)
    statements = data.get("Statement") if isinstance(data, dict) else None
    for statement in statements if isinstance(statements, list) else ():
        try:
            expiry = float(statement["Condition"]["DateLessThan"]["AWS:EpochTime"])
        except (KeyError, TypeError, ValueError, OverflowError):
            continue
        # Only a time a calendar can show (1970 to the year 9999): anything else is no expiry we can judge.
        return expiry if 0 <= expiry < LAST_CALENDAR_SECOND else None
    return None


def unparsable(url: str) -> str:
    """Why `url` cannot be read as a URL at all (an unclosed `[`, a port that is no number), or ""."""
    try:
        parts = urlsplit(re.sub(r"\s+", "", url.strip().strip("'\"<>")))
        parts.port  # noqa: B018 - reading it validates it
    except ValueError as exc:
        return str(exc)
    return ""


def inspect_url(url: str, now: float | None) -> UrlReport:
    """Everything wrong with `url` as Meta's download.sh would use it; `now` (epoch seconds) judges expiry."""
    url = url.strip().strip("'\"<>")
    problems: list[str] = []
    if unparsable(url):
        # TRANSLATORS: {error} is Python's reason the text cannot be read as a URL.
        why = _("it is not a URL ({error}): copy the link again").format(error=unparsable(url))
        return UrlReport(redact_url(url), "", None, (why,))
    if _EMAIL.match(url) or url.lower().startswith("mailto:"):
        why = _(
            "this is an email address, not the download URL: paste the link from the email's body, starting with "
            "https://"
        )
        return UrlReport(_("an email address"), "", None, (why,))
    if re.search(r"\s", url):
        problems.append(_("it contains spaces or line breaks: the link was wrapped or cut while copying"))
        url = re.sub(r"\s+", "", url)
    if "&amp;" in url:
        problems.append(
            _(
                "its `&` became `&amp;` (copied from an HTML email or page): the server answers 403 Forbidden; "
                "replace every `&amp;` with `&`"
            )
        )
    parts = urlsplit(url)
    if parts.scheme != "https":
        problems.append(_("it does not start with https:// (wget says `Scheme missing.`)"))
    host = parts.hostname or ""
    if host and not host.endswith("llamameta.net"):
        problems.append(
            _(
                "its host is {host}, not a *.llamameta.net download host: copy the link from Meta's email or the "
                "llama.com download page"
            ).format(host=host)
        )
    query = parts.query.replace("&amp;", "&")
    params = {k.lower(): v[0] for k, v in parse_qs(query).items()}
    missing = [name for name in ("Policy", "Signature", "Key-Pair-Id") if name.lower() not in params]
    if missing:
        problems.append(
            _(
                "it has lost its query ({names} missing): copy the whole link, everything after `?` included, and "
                "quote it in the shell"
            ).format(names=", ".join(missing))
        )
    if host.endswith("llamameta.net") and "*" not in parts.path:
        problems.append(_("its path has no `*`: download.sh replaces the `*` with each file's path"))
    expires = policy_expiry(params["policy"]) if "policy" in params else None
    if "policy" in params and expires is None:
        problems.append(_("its Policy cannot be decoded: the link was damaged while copying"))
    if expires is not None and now is not None and expires <= now:
        ago = _ago(now - expires)
        # TRANSLATORS: {ago} is "3 h ago", "2 days ago".
        problems.append(_("it expired {ago} (links last 24 h): request a new one at llama.com").format(ago=ago))
    return UrlReport(redact_url(url), host, expires, tuple(problems))


def _ago(seconds: float) -> str:
    if seconds < 3600:
        return _("{count} min ago").format(count=f"{seconds / 60:.0f}")
    if seconds < 3 * 86400:
        return _("{count} h ago").format(count=f"{seconds / 3600:.0f}")
    return _("{count} days ago").format(count=f"{seconds / 86400:.0f}")
