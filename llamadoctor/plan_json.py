"""`llamadoctor fix --dry-run --json`: the plan as data, each change as `fix` would show it."""

from __future__ import annotations

import stat
from collections.abc import Sequence
from typing import Any

from llamadoctor.files import mode_text
from llamadoctor.fixing import PlannedFix, diff_text, would_apply
from llamadoctor.model import Action, Chmod, RunCommand, WriteFile


def action_data(action: Action) -> dict[str, Any]:
    if isinstance(action, WriteFile):
        return {
            "action": "write",
            "path": action.path,
            "creates": action.before is None,
            "mode": mode_text(action.mode) if action.mode is not None else None,
            "diff": diff_text(action),
        }
    if isinstance(action, Chmod):
        return {
            "action": "chmod",
            "path": action.path,
            "mode": mode_text(action.mode),
            "octal": f"{stat.S_IMODE(action.mode):o}",
        }
    if isinstance(action, RunCommand):
        return {"action": "run", "argv": list(action.argv), "timeout": action.timeout}
    return {"action": "manual", "text": action.text, "commands": list(action.commands)}


def plan_data(planned: Sequence[PlannedFix], *, unsafe: bool, note: str = "") -> dict[str, Any]:
    """The body of the JSON document; `note` says why there is no plan, when there is none."""
    return {
        "plan": [
            {
                "fix": item.fix.id,
                "check": item.finding.check,
                "applicability": item.applicability.value,
                "summary": item.fix.summary,
                "finding": item.finding.message,
                "would_apply": would_apply(item, unsafe),
                "actions": [action_data(a) for a in item.actions],
            }
            for item in planned
        ],
        "note": note,
    }
