"""The data every part of llamadoctor speaks: severities, findings, check and fix metadata, fix actions.

Everything here is a frozen dataclass or an enum. Checks produce Findings; fixes produce Actions; nothing in this
module touches the machine.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Union

from llamadoctor.i18n import N_, _

if TYPE_CHECKING:
    from llamadoctor.facts import Facts


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


class Status(str, enum.Enum):
    """What happened to one check in one run."""

    PASSED = "passed"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    SKIPPED = "skipped"  # the user left it out, or a fact it needs is unknown
    NOT_APPLICABLE = "not-applicable"  # there was nothing for it to look at
    CRASHED = "crashed"


class Applicability(str, enum.Enum):
    SAFE = "safe"  # applied with --yes
    UNSAFE = "unsafe"  # edits the user's code: needs --unsafe too
    MANUAL = "manual"  # printed for the user, never executed


class Group(str, enum.Enum):
    """The headings of the human report, in the order they print."""

    SYSTEM = N_("System")
    PYTHON = N_("Python & PyTorch")
    GPU = N_("GPU & CUDA")
    DISTRIBUTED = N_("Distributed")
    TOOLS = N_("Tools")
    DOWNLOAD = N_("Download")
    MODEL = N_("Model files")


PLATFORMS = frozenset({"linux", "darwin", "windows"})
OS_NAMES = {"linux": "Linux", "darwin": "macOS", "windows": "Windows"}  # as people write them


@dataclass(frozen=True)
class Finding:
    """One problem a check found, with the observed values that prove it."""

    check: str
    severity: Severity
    message: str
    fixes: tuple[str, ...] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)
    # The exact remedy for this machine, already specialised (command lines, paths); shown under the message.
    remedy: str = ""


def shown(text: str) -> str:
    """A constant marked with `N_()`, in the current language ("" stays "": gettext maps it to its header)."""
    return _(text) if text else text


class SkipCheck(Exception):
    """Raised by a check that cannot judge because a fact it needs is unknown (the GPU's arch list, NCCL)."""


@dataclass(frozen=True)
class Passed:
    """Yielded by a check: what it looked at and found healthy ("download.sh: LF line endings")."""

    checked: str


@dataclass(frozen=True)
class NotApplicable:
    """Yielded by a check: there was nothing for it to look at, and why ("no checklist.chk")."""

    reason: str


@dataclass(frozen=True)
class NotVerified(NotApplicable):
    """Yielded by a check: there was something to look at, but it was not looked at ("--no-hash"). The verdict
    names these, so a run that verified less never reads like one that verified everything."""


@dataclass(frozen=True)
class Requires:
    """A fact a check needs: where `holds(facts)` is false the check is not applicable, for `reason` (a
    constant is marked with `N_()` and shown through `_()`). When the probe that fills the fact failed
    (`probe`, a name of Facts.probe_errors), the check is skipped instead: the defaults standing in for the
    missing facts must not read as "nothing there"."""

    holds: Callable[[Facts], object]
    reason: str | Callable[[Facts], str] = ""
    probe: str = ""

    def probe_failed(self, facts: Facts) -> str | None:
        """Why the facts this requirement reads are unknown, or None."""
        error = facts.probe_errors.get(self.probe) if self.probe else None
        # TRANSLATORS: {probe} is the name of a probe (gpu, files, memory); {error} is its error, as raised.
        return _("the {probe} probe failed ({error})").format(probe=self.probe, error=error) if error else None

    def unmet(self, facts: Facts) -> str | None:
        """Why the check does not apply to `facts`, or None when it does."""
        if self.holds(facts):
            return None
        return self.reason(facts) if callable(self.reason) else shown(self.reason)


@dataclass(frozen=True)
class Healthy:
    facts: Facts


@dataclass(frozen=True)
class Broken:
    facts: Facts
    expect: str = ""  # a substring the message must contain


@dataclass(frozen=True)
class Inapplicable:
    facts: Facts
    expect: str = ""  # a substring the not-applicable reason must contain


Example = Union[Healthy, Broken, Inapplicable]
Outcome = Union[Finding, Passed, NotApplicable]
CheckFunc = Callable[["Facts"], Iterator[Outcome]]


@dataclass(frozen=True)
class Check:
    id: str
    summary: str
    severity: Severity
    group: Group
    func: CheckFunc
    platforms: frozenset[str] = PLATFORMS
    fixes: tuple[str, ...] = ()
    examples: tuple[Example, ...] = ()
    slow: bool = False  # reads many bytes (hashing): run last, skippable
    requires: tuple[Requires, ...] = ()
    # What a healthy result looked at, for a check that yields no Passed of its own.
    checked: str | Callable[[Facts], str] = ""

    def checked_text(self, facts: Facts) -> str:
        return self.checked(facts) if callable(self.checked) else shown(self.checked)

    @property
    def doc(self) -> str:
        import inspect

        return inspect.getdoc(self.func) or ""

    def finding(
        self,
        message: str,
        *,
        remedy: str = "",
        severity: Severity | None = None,
        fixes: tuple[str, ...] | None = None,
        **evidence: Any,
    ) -> Finding:
        """A Finding of this check, carrying its default severity and fix ids unless told otherwise."""
        return Finding(
            self.id, severity or self.severity, message, self.fixes if fixes is None else fixes, evidence, remedy
        )


# ---- fixes -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteFile:
    """Replace a file's bytes. `before` is what planning saw: apply refuses if the file changed since."""

    path: str
    after: bytes
    before: bytes | None  # None: the file does not exist yet
    mode: int | None = None  # chmod to this after writing (None: keep the current mode)


@dataclass(frozen=True)
class Chmod:
    path: str
    mode: int


@dataclass(frozen=True)
class RunCommand:
    argv: tuple[str, ...]
    timeout: float = 600.0


@dataclass(frozen=True)
class Manual:
    """Instructions only the user can carry out; `commands` is already in the user's shell syntax."""

    text: str
    commands: tuple[str, ...] = ()


Action = Union[WriteFile, Chmod, RunCommand, Manual]
PlanFunc = Callable[[Finding, "Facts"], "tuple[Action, ...]"]


@dataclass(frozen=True)
class Fix:
    id: str
    summary: str
    applicability: Applicability
    func: PlanFunc

    def plan(self, finding: Finding, facts: Facts) -> tuple[Action, ...]:
        return tuple(self.func(finding, facts))
