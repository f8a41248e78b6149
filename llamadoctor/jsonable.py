"""Turn facts and findings into plain JSON data (dataclasses, enums, tuples, bytes, mappings)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v) for v in items]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


SCHEMA = 1


def document(kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope of every `--json` output: `schema`, the llamadoctor version and what `kind` of document it
    is, then the body, redacted (no token or URL signature leaves in JSON either)."""
    import json

    from llamadoctor import __version__
    from llamadoctor.redact import redact_data

    data = {"schema": SCHEMA, "llamadoctor": __version__, "kind": kind, **body}
    return redact_data(json.loads(json.dumps(data, default=str)))  # type: ignore[no-any-return]


def dumps(kind: str, body: Mapping[str, Any]) -> str:
    import json

    return json.dumps(document(kind, body), indent=2)
