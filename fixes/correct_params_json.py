"""Put Meta's corrected values into a params.json with a known erratum, keeping its formatting."""

from __future__ import annotations

import re

from llamadoctor.facts import Facts
from llamadoctor.model import Action, Applicability, Finding, WriteFile
from llamadoctor.registry import fix

# key -> (wrong value as written, correct value): the values Meta itself corrected (meta-llama/llama#771)
ERRATA = {"norm_eps": (r"1e-0?6|0\.000001|1\.0e-0?6", "1e-05")}


def corrected(raw: bytes) -> bytes:
    """`raw` with each erratum's value replaced in place: spacing, key order and newlines are kept."""
    text = raw.decode("utf-8")
    for key, (wrong, right) in ERRATA.items():
        text = re.sub(rf'("{key}"\s*:\s*)(?:{wrong})(?=\s*[,}}])', rf"\g<1>{right}", text)
    return text.encode("utf-8")


@fix(
    id="correct-params-json",
    summary="set params.json's known-bad values to Meta's corrected ones",
    applicability=Applicability.UNSAFE,
)
def correct_params_json(finding: Finding, facts: Facts) -> tuple[Action, ...]:
    path = finding.evidence.get("path")
    model = next((m for m in facts.models if m.path == path), None)
    if model is None or model.params_bytes is None:
        return ()
    try:
        after = corrected(model.params_bytes)
    except UnicodeDecodeError:
        return ()
    if after == model.params_bytes:
        return ()
    sep = "\\" if "\\" in model.path and "/" not in model.path else "/"
    return (WriteFile(f"{model.path}{sep}params.json", after, model.params_bytes),)
