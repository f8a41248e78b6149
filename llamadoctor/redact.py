"""Secrets never leave llamadoctor: one pass over every string we print or write as JSON.

Signed download URLs carry their secret in the query (CloudFront's Policy, Signature, Key-Pair-Id; S3's
X-Amz-Signature/Credential); Hugging Face tokens start with `hf_`. The rest of a URL stays readable so the
user can still tell which link it was.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "<redacted>"
_SECRET_PARAMS = re.compile(
    r"(?i)((?:^|[?&;]|&amp;)(?:Policy|Signature|Key-Pair-Id|X-Amz-Signature|X-Amz-Credential|"
    r"X-Amz-Security-Token|token|access_token|sig)=)[^&\s'\"<>]+"
)
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{20,}\b")
_BEARER = re.compile(r"(?i)(authorization:\s*bearer\s+)\S+")


def redact(text: str) -> str:
    text = _SECRET_PARAMS.sub(lambda m: m.group(1) + MASK, text)
    text = _HF_TOKEN.sub("hf_" + MASK, text)
    return _BEARER.sub(lambda m: m.group(1) + MASK, text)


def redact_data(value: Any) -> Any:
    """Redact every string inside JSON-like data."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_data(v) for v in value]
    return value
