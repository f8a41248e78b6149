"""Make Meta's reference code fall back to gloo where NCCL is missing, and skip the CUDA-only set_device.

The edit is the smallest that works: the hard-coded `init_process_group("nccl")` picks its backend at run
time, and `torch.cuda.set_device(...)` runs only when CUDA exists. Line endings and indentation are kept.
"""

from __future__ import annotations

import re

from llamadoctor.facts import Facts
from llamadoctor.i18n import _
from llamadoctor.model import Action, Applicability, Finding, Manual, WriteFile
from llamadoctor.registry import fix

NCCL_CALL = re.compile(r"""init_process_group\(\s*(?:backend\s*=\s*)?["']nccl["']\s*\)""")
BACKEND = (
    'init_process_group("nccl" if torch.distributed.is_nccl_available() and torch.cuda.is_available() else "gloo")'
)
SET_DEVICE = re.compile(r"^(?P<indent>[ \t]*)torch\.cuda\.set_device\(.*\)[ \t]*$")
GUARD = re.compile(r"^\s*if\b.*cuda.*:\s*$")


def patched(source: bytes) -> bytes:
    """`source` with the backend chosen at run time and unguarded set_device calls guarded."""
    text = source.decode("utf-8")
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    previous = ""
    for line in lines:
        body = line.rstrip("\r\n")
        eol = line[len(body) :]
        if not body.lstrip().startswith("#"):
            body = NCCL_CALL.sub(BACKEND, body)
        match = SET_DEVICE.match(body)
        if match and not GUARD.match(previous):
            newline = eol or ("\r\n" if "\r\n" in text else "\n")
            out.append(f"{match['indent']}if torch.cuda.is_available():{newline}")
            body = "    " + body
        out.append(body + eol)
        if body.strip():
            previous = body
    return "".join(out).encode("utf-8")


@fix(
    id="patch-meta-code-gloo",
    summary="make Meta's generation code use gloo where NCCL is missing",
    applicability=Applicability.UNSAFE,
)
def patch_meta_code_gloo(finding: Finding, facts: Facts) -> tuple[Action, ...]:
    actions: list[Action] = []
    for source in facts.repo.sources if facts.repo else ():
        if not source.nccl_lines:
            continue
        try:
            after = patched(source.content)
        except UnicodeDecodeError:
            actions.append(
                Manual(
                    _(
                        '{path} is not UTF-8: edit init_process_group("nccl") by hand to init_process_group("gloo").'
                    ).format(path=source.path)
                )
            )
            continue
        if b"import torch" not in source.content:
            actions.append(
                Manual(
                    _(
                        "{path} does not import torch by that name: change its "
                        'init_process_group("nccl") to "gloo" by hand.'
                    ).format(path=source.path)
                )
            )
            continue
        if after != source.content:
            actions.append(WriteFile(source.path, after, source.content))
    return tuple(actions)
