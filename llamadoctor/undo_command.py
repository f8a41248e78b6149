"""`llamadoctor undo`: pick the journal entry the user means (the last one, an id or a unique prefix of one),
list the journal, and put back what the entry's fix changed."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, Optional, Union

from llamadoctor import apply
from llamadoctor.errors import UsageError
from llamadoctor.i18n import _
from llamadoctor.jsonable import dumps
from llamadoctor.output import SETTINGS
from llamadoctor.redact import redact

Record = Union[apply.Entry, apply.Damaged]


def pick(journal: Sequence[Record], wanted: Optional[str]) -> Record:
    """The entry `wanted` names (an id or the start of exactly one id), or the newest fix still in place."""
    if wanted is None:
        # A damaged newer record is refused rather than skipped.
        candidates = [e for e in journal if isinstance(e, apply.Damaged) or e.state == "applied"]
        if not candidates:
            raise UsageError(_("there is no applied fix to undo (see `llamadoctor undo --list`)"))
        return candidates[0]
    exact = [e for e in journal if e.id == wanted]
    if exact:
        return exact[0]
    matches = [e for e in journal if wanted and e.id.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(_("no journal entry {id} (see `llamadoctor undo --list`)").format(id=repr(wanted)))
    shown = ", ".join(e.id for e in matches[:5])
    if len(matches) > 5:
        many = _("{prefix} starts {count} journal entries: {ids} and {more} more")
    else:
        many = _("{prefix} starts {count} journal entries: {ids}")
    message = many.format(prefix=repr(wanted), count=len(matches), ids=shown, more=len(matches) - 5)
    raise UsageError(message, _("give more of the id"))


def entry_data(entry: Record) -> dict[str, Any]:
    if isinstance(entry, apply.Damaged):
        return {"id": entry.id, "state": "damaged", "reason": entry.reason, "folder": str(entry.folder)}
    return {
        "id": entry.id,
        "state": entry.state,
        "created": entry.created,
        "fix": entry.fix,
        "check": entry.check,
        "files": sorted({s.path for s in entry.steps if s.path}),
        "partly_undone": entry.state == "applied" and any(s.undone for s in entry.steps),
    }


def show_list(journal: Sequence[Record], json_out: bool) -> None:
    if json_out:
        print(dumps("undo-list", {"entries": [entry_data(e) for e in journal]}))
        return
    for item in journal:
        print(item.describe())
    if not journal:
        print(_("No fixes have been applied."))


def undo(entry: Record, force: bool) -> int:
    """Undo `entry`; the exit code."""
    try:
        if isinstance(entry, apply.Damaged):
            damaged = _(
                "journal entry {id} is damaged ({reason}); its backups stay in {folder} (see `llamadoctor undo --list`)"
            )
            raise apply.ApplyError(damaged.format(id=entry.id, reason=entry.reason, folder=entry.folder))
        restored = apply.undo(entry, force=force)
    except apply.ApplyError as exc:
        print(f"llamadoctor: error: {redact(str(exc))}", file=sys.stderr)
        return 1
    if SETTINGS.quiet:
        return 0
    for path in restored:
        print(_("restored {path}").format(path=path))
    for step in entry.steps:
        if step.kind == "run":
            kept = _("not undone: the command `{command}` (remove what it made yourself if needed)")
            print(kept.format(command=" ".join(step.argv)))
    print(_("undid {id} ({fix})").format(id=entry.id, fix=entry.fix))
    return 0
