"""How the catalogue of known failures is covered, read from the failures' own data: which checks see each one
before it happens, which fixes repair it, what `llamadoctor run` does about it, how many log signatures
`explain` knows, and for the rest why only a log can show it.

`list --failures` prints it, `--json` and `--markdown` give it as data and as the README's table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llamadoctor.failures import FAILURES, Failure
from llamadoctor.i18n import N_, _
from llamadoctor.jsonable import dumps

_LINE = N_(
    "Caught before it bites: {caught} of {total}; fixed: {fixed}; log only: {log_only}; handled by run: {run};"
    " found by explain: {explained}."
)


@dataclass(frozen=True)
class Summary:
    total: int
    caught: int  # a check sees it before it happens
    fixed: int  # a fix repairs it
    log_only: int  # only a log can show it, and the failure says why
    run_handles: int  # `llamadoctor run` refuses it early or works around it
    explained: int  # `explain` finds it in a log

    def line(self, translate: bool = True) -> str:
        """The counts in a sentence, in the language people are spoken to in; in English for the README."""
        return (_ if translate else str)(_LINE).format(
            caught=self.caught,
            total=self.total,
            fixed=self.fixed,
            log_only=self.log_only,
            run=self.run_handles,
            explained=self.explained,
        )


def summary(failures: Sequence[Failure] = FAILURES) -> Summary:
    return Summary(
        total=len(failures),
        caught=sum(bool(f.checks) for f in failures),
        fixed=sum(bool(f.fixes) for f in failures),
        log_only=sum(bool(f.log_only) and not f.checks for f in failures),
        run_handles=sum(f.runner is not None for f in failures),
        explained=sum(bool(f.signatures) for f in failures),
    )


def failure_data(failure: Failure) -> dict[str, Any]:
    return {
        "id": failure.id,
        "step": failure.step.value,
        "title": failure.title,
        "checks": list(failure.checks),
        "fixes": list(failure.fixes),
        "log_only": failure.log_only or None,
        "run": None if failure.runner is None else failure.runner.does,
        "explain_signatures": len(failure.signatures),
    }


def to_data(failures: Sequence[Failure] = FAILURES) -> dict[str, Any]:
    """The `list --failures --json` document."""
    counts = summary(failures)
    return {
        "failures": [failure_data(f) for f in failures],
        "summary": {
            "total": counts.total,
            "caught": counts.caught,
            "fixed": counts.fixed,
            "log_only": counts.log_only,
            "run_handles": counts.run_handles,
            "explained": counts.explained,
        },
    }


def to_json(failures: Sequence[Failure] = FAILURES) -> str:
    return dumps("failures", to_data(failures)) + "\n"


def _ids(ids: Sequence[str]) -> str:
    return ", ".join(f"`{i}`" for i in ids)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _signatures(count: int) -> str:
    return f"{count} signature" if count == 1 else f"{count} signatures"


def to_markdown(failures: Sequence[Failure] = FAILURES) -> str:
    """The README's coverage table: one row per failure, then the summary line."""
    lines = [
        "| failure | step | seen in advance by | fixed by | `llamadoctor run` | `explain` |",
        "|---|---|---|---|---|---|",
    ]
    for f in failures:
        seen = _ids(f.checks) if f.checks else f"log only: {_cell(f.log_only)}" if f.log_only else "not yet"
        run = _cell(f.runner.does) if f.runner else ""
        lines.append(
            f"| `{f.id}` | {f.step.value} | {seen} | {_ids(f.fixes)} | {run} | {_signatures(len(f.signatures))} |"
        )
    return "\n".join(lines) + f"\n\n{summary(failures).line(translate=False)}\n"
