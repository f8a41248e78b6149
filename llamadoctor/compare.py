"""`llamadoctor diff A.json B.json`: what differs between two reports, ranked by what it breaks.

Either file may be `report --json` or `check --json`, from two machines or two days. First come the checks
whose result differs (passed on A, failed on B, with the finding), then the facts those checks read, then every
other fact. Facts that change on every run (free memory, probe timings, the clock) are left out unless asked
or unless a changed check reads them.
Both documents are masked with their own host's names before comparing, so a masked report and an unmasked
`check --json` of the same machine do not differ in home folders or host names alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from llamadoctor.errors import UsageError
from llamadoctor.fact_reads import is_read, reads_of
from llamadoctor.i18n import N_, _
from llamadoctor.jsonable import document
from llamadoctor.privacy import Identity, Masker
from llamadoctor.report import SCHEMA

MAX_BYTES = 64 * 1024 * 1024
OURS = N_("give the output of `llamadoctor report --json` or `llamadoctor check --json`")
# Facts that differ between two runs on one unchanged machine.
VOLATILE = re.compile(
    r"^(timings|options\.now|memory\.ram_available|disk\.free|gpu\.gpus\[[^\]]*\]\.memory_free"
    r"|models\[[^\]]*\]\.disk_free)(\.|\[|$)"
)
# List items are named by these fields rather than their position: folders and GPUs may come in another order.
_ITEM_KEYS = ("path", "uuid", "repo", "name", "check", "index")


@dataclass(frozen=True)
class Document:
    path: str
    kind: str  # "report" | "check"
    data: Mapping[str, Any]

    @property
    def checks(self) -> dict[str, str]:
        return {c["check"]: c["status"] for c in self.data["checks"]}

    def findings(self, check: str) -> list[str]:
        return [f["message"] for f in self.data.get("findings", []) if f.get("check") == check]


@dataclass(frozen=True)
class CheckChange:
    check: str
    a: Optional[str]  # its status in A; None when A did not run it
    b: Optional[str]
    a_findings: tuple[str, ...]
    b_findings: tuple[str, ...]


@dataclass(frozen=True)
class FactChange:
    fact: str
    a: Any  # MISSING when A has no such fact
    b: Any
    read_by: tuple[str, ...]  # changed checks that read it; empty: nothing that changed reads it


class _Missing:
    def __repr__(self) -> str:
        return _("(absent)")


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Comparison:
    a: Document
    b: Document
    checks: tuple[CheckChange, ...]
    facts: tuple[FactChange, ...]

    @property
    def same(self) -> bool:
        return not self.checks and not self.facts


# ---- reading -------------------------------------------------------------------------------------------------


def load(path: Path) -> Document:
    """A report or check --json document, masked with its own host's names; UsageError for anything else."""
    ours = _(OURS)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            too_large = _("{path} is {size} bytes: too large to be a llamadoctor report")
            raise UsageError(too_large.format(path=path, size=size), ours)
        text = path.read_text(encoding="utf-8-sig")
    except UsageError:
        raise
    except IsADirectoryError:
        raise UsageError(_("{path} is a folder, not a report").format(path=path), ours) from None
    except FileNotFoundError:
        raise UsageError(_("{path} does not exist").format(path=path), ours) from None
    except UnicodeDecodeError:
        raise UsageError(_("{path} is not text: not a llamadoctor report").format(path=path), ours) from None
    except OSError as exc:
        raise UsageError(_("{path} cannot be read ({reason})").format(path=path, reason=exc.strerror or exc)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        bad = _("{path} is not valid JSON (line {line}, column {column})")
        raise UsageError(bad.format(path=path, line=exc.lineno, column=exc.colno), ours) from None
    except (ValueError, RecursionError):  # a number too long to convert, nesting too deep
        raise UsageError(_("{path} is not JSON llamadoctor can read").format(path=path), ours) from None
    try:
        return Document(str(path), _kind(path, data), _masked(data))
    except RecursionError:  # valid JSON, nested deeper than any report is
        raise UsageError(_("{path} is JSON, but not a llamadoctor report").format(path=path), ours) from None


def _kind(path: Path, data: Any) -> str:
    if not isinstance(data, dict) or "llamadoctor" not in data or not isinstance(data.get("schema"), int):
        raise UsageError(_("{path} is JSON, but not a llamadoctor report").format(path=path), _(OURS))
    if data["schema"] > SCHEMA:
        newer = _("{path} has schema {schema}, newer than this llamadoctor reads ({ours})")
        raise UsageError(
            newer.format(path=path, schema=data["schema"], ours=SCHEMA),
            _("upgrade llamadoctor: the file was written by llamadoctor {version}").format(version=data["llamadoctor"]),
        )
    checks, facts = data.get("checks"), data.get("facts")
    if not isinstance(facts, dict) or not isinstance(checks, list) or not all(_is_check(c) for c in checks):
        without = _("{path} is a llamadoctor document without facts and checks")
        raise UsageError(without.format(path=path), _(OURS))
    return "report" if data.get("kind") == "report" else "check"


def _is_check(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("check"), str) and isinstance(item.get("status"), str)


def _masked(data: dict[str, Any]) -> dict[str, Any]:
    facts = data["facts"]
    platform = facts.get("platform") if isinstance(facts.get("platform"), dict) else {}
    network = facts.get("network") if isinstance(facts.get("network"), dict) else {}
    listed = ("local_addresses", "hostname_resolves_to", "master_addr_resolves_to")
    addresses = [a for key in listed for a in network.get(key) or () if isinstance(a, str)]
    host = platform.get("hostname")
    host = host if isinstance(host, str) else ""
    return Masker(Identity(host=host, addresses=tuple(addresses))).data(data)  # type: ignore[no-any-return]


# ---- comparing -----------------------------------------------------------------------------------------------


def flatten(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) for each leaf; list items named by their path or name where they have one."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from flatten(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for n, item in enumerate(value):
            name = next((item[k] for k in _ITEM_KEYS if isinstance(item.get(k), (str, int))), n)
            yield from flatten(item, f"{path}[{name}]")
    else:
        yield path, value


def compare(a: Document, b: Document, *, everything: bool = False) -> Comparison:
    checks = _changed_checks(a, b)
    reads: dict[str, frozenset[str]] = {}
    if checks:  # loading every check costs a second or two: only to explain a changed result
        from llamadoctor.registry import all_checks

        known = {c.id: c for c in all_checks()}
        reads = {c.check: reads_of(known[c.check]) for c in checks if c.check in known}
    fa, fb = dict(flatten(a.data["facts"])), dict(flatten(b.data["facts"]))
    facts = []
    for fact in sorted(fa.keys() | fb.keys()):
        va, vb = fa.get(fact, MISSING), fb.get(fact, MISSING)
        if va == vb or _emptied(fact, va, fb) or _emptied(fact, vb, fa):
            continue
        read_by = tuple(c for c, r in reads.items() if is_read(fact, r))
        if read_by or everything or not VOLATILE.match(fact):  # free memory matters when it changed a verdict
            facts.append(FactChange(fact, va, vb, read_by))
    facts.sort(key=lambda f: (not f.read_by, f.fact))  # stable: within each rank, in path order
    return Comparison(a, b, tuple(checks), tuple(facts))


def _emptied(fact: str, value: Any, other: Mapping[str, Any]) -> bool:
    """An empty list or mapping where the other side has items: those items' own rows say it all."""
    return value in ([], {}) and fact not in other and any(k.startswith((fact + ".", fact + "[")) for k in other)


_RANK = {"crashed": 0, "error": 1, "warning": 2, "info": 3, "passed": 4, "not-applicable": 5, "skipped": 6}


def _changed_checks(a: Document, b: Document) -> list[CheckChange]:
    sa, sb = a.checks, b.checks
    changes = []
    for check in list(dict.fromkeys([*sa, *sb])):
        fa, fb = tuple(a.findings(check)), tuple(b.findings(check))
        if sa.get(check) != sb.get(check) or fa != fb:
            changes.append(CheckChange(check, sa.get(check), sb.get(check), fa, fb))
    # What breaks first: the worst status on either side, then the id.
    changes.sort(key=lambda c: (min(_RANK.get(s or "", 9) for s in (c.a, c.b)), c.check))
    return changes


# ---- output --------------------------------------------------------------------------------------------------


def to_data(result: Comparison) -> dict[str, Any]:
    def shown(value: Any) -> Any:
        return None if value is MISSING else value

    body = {
        "a": {"path": result.a.path, "kind": result.a.kind},
        "b": {"path": result.b.path, "kind": result.b.kind},
        "same": result.same,
        "checks": [
            {"check": c.check, "a": c.a, "b": c.b, "a_findings": list(c.a_findings), "b_findings": list(c.b_findings)}
            for c in result.checks
        ],
        "facts": [
            {
                "fact": f.fact,
                "a": shown(f.a),
                "b": shown(f.b),
                "a_has": f.a is not MISSING,
                "b_has": f.b is not MISSING,
                "read_by": list(f.read_by),
            }
            for f in result.facts
        ],
    }
    return document("diff", body)


def cell(value: Any, width: int = 60) -> str:
    if value is MISSING:
        return _("(absent)")
    text = value if isinstance(value, str) and value else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def render(result: Comparison, console: Any) -> None:
    """The changed checks with their findings, then the facts: those the changed checks read first."""
    from rich.text import Text

    a, b = Path(result.a.path).name, Path(result.b.path).name
    if result.same:
        console.print(Text(_("{a} and {b} agree: the same check results and facts.").format(a=a, b=b)))
        return
    if result.checks:
        _checks_table(result, a, b, console)
    if result.facts:
        console.print()
        _facts_table(result, a, b, console)
    read = sum(1 for f in result.facts if f.read_by)
    console.print()
    differ = _(
        "{checks} check result(s) and {facts} fact(s) differ; "
        "{read} of those facts are read by the checks that changed."
    )
    console.print(Text(differ.format(checks=len(result.checks), facts=len(result.facts), read=read)))


def _table(first: str, a: str, b: str, widths: tuple[int, int], width: int, extra: str = "") -> Any:
    """Ids and fact paths stay whole when the terminal leaves the values room enough; values wrap."""
    from rich.table import Table

    from llamadoctor.redact import safe_text

    whole = widths[0] + widths[1] + 34 <= width
    table = Table(show_edge=False)
    table.add_column(first, no_wrap=whole, overflow="fold")
    table.add_column(f"A: {safe_text(a)}", overflow="fold")
    table.add_column(f"B: {safe_text(b)}", overflow="fold")
    if extra:
        table.add_column(extra, no_wrap=whole, overflow="fold", style="dim")
    return table


def _checks_table(result: Comparison, a: str, b: str, console: Any) -> None:
    from rich.padding import Padding
    from rich.text import Text

    from llamadoctor.redact import safe_text

    widths = (max(len(c.check) for c in result.checks), 0)
    table = _table(_("check whose result differs"), a, b, widths, console.width)
    for c in result.checks:
        table.add_row(
            Text(c.check, style="bold"),
            Text(c.a or _("(not run)"), style=_status_style(c.a or "")),
            Text(c.b or _("(not run)"), style=_status_style(c.b or "")),
        )
    console.print(table)
    for c in result.checks:
        for side, messages, others in (("A", c.a_findings, c.b_findings), ("B", c.b_findings, c.a_findings)):
            for message in messages:
                if message not in others:
                    # TRANSLATORS: {side} is A or B, the first or the second report; {message} is the finding.
                    said = _("{check} on {side}: {message}").format(check=c.check, side=side, message=message)
                    line = Text(safe_text(said))
                    line.stylize("bold", 0, len(line.plain) - len(safe_text(message)))
                    console.print(Padding(line, (0, 0, 0, 1)))


def _facts_table(result: Comparison, a: str, b: str, console: Any) -> None:
    from rich.text import Text

    from llamadoctor.redact import safe_text

    widths = (max(len(f.fact) for f in result.facts), max((len(c) for f in result.facts for c in f.read_by), default=0))
    table = _table(_("fact"), a, b, widths, console.width, _("read by"))
    unread = False
    for f in result.facts:
        if not f.read_by and not unread and f is not result.facts[0]:
            table.add_section()  # the facts no changed check reads, below a line
        unread = unread or not f.read_by
        table.add_row(Text(safe_text(f.fact)), Text(safe_text(cell(f.a))), Text(safe_text(cell(f.b))),
                      Text("\n".join(f.read_by)))  # fmt: skip
    console.print(table)


def _status_style(status: str) -> str:
    return {"passed": "green", "error": "red", "crashed": "magenta", "warning": "yellow"}.get(status, "")
