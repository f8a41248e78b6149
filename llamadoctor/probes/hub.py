"""Ask the Hugging Face hub, only under --online, whether repositories are gated and the token may read them.

The token is read into memory to send it; it never enters the facts, a message or a log."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Callable, Optional

from llamadoctor.facts import HubAccess

ENDPOINT = "https://huggingface.co"
TIMEOUT = 3.0  # per request: two per repository must fit in the probe's own deadline
# (url, headers, timeout) -> (HTTP status, body); raises OSError when no answer comes.
HubGet = Callable[[str, Mapping[str, str], float], "tuple[int, bytes]"]


def hub_get(url: str, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=dict(headers), method="GET")  # noqa: S310 (https hub URLs only)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read(200_000)
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def token_value(environ: Mapping[str, str], token_file: Optional[str]) -> Optional[str]:
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if environ.get(name, "").strip():
            return environ[name].strip()
    if token_file:
        try:
            return Path(token_file).read_text(encoding="utf-8").strip() or None
        except OSError:
            return None
    return None


def ask_hub(
    repos: Iterable[str],
    token: Optional[str],
    endpoint: str = ENDPOINT,
    get: HubGet = hub_get,
    timeout: float = TIMEOUT,
) -> tuple[HubAccess, ...]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return tuple(_one(repo, headers, endpoint.rstrip("/"), get, timeout) for repo in repos)


def _one(repo: str, headers: Mapping[str, str], endpoint: str, get: HubGet, timeout: float) -> HubAccess:
    try:
        status, body = get(f"{endpoint}/api/models/{repo}", headers, timeout)
        if status != 200:
            return HubAccess(repo, error=f"the hub answered HTTP {status} for the repository")
        gated = json.loads(body).get("gated")
        if not gated:
            return HubAccess(repo, gated=False, access=True)
        status, _ = get(f"{endpoint}/{repo}/resolve/main/config.json", headers, timeout)
    except (OSError, ValueError, AttributeError) as exc:
        return HubAccess(repo, error=_reason(exc))
    if status in (401, 403):
        return HubAccess(repo, gated=True, access=False)
    if status == 200:
        return HubAccess(repo, gated=True, access=True)
    return HubAccess(repo, gated=True, error=f"the hub answered HTTP {status} for a file")


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or exc) or type(exc).__name__
