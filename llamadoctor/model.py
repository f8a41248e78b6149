"""The data every part of llamadoctor speaks: severities, findings, check and fix metadata, fix actions.

Everything here is a frozen dataclass or an enum. Checks produce Findings; fixes produce Actions; nothing in this
module touches the machine.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Union

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
    SKIPPED = "skipped"
    CRASHED = "crashed"


class Applicability(str, enum.Enum):
    SAFE = "safe"  # applied with --yes
    UNSAFE = "unsafe"  # edits the user's code: needs --unsafe too
    MANUAL = "manual"  # printed for the user, never executed


class Group(str, enum.Enum):
    """The headings of the human report, in the order they print."""

    SYSTEM = "System"
    PYTHON = "Python & PyTorch"
    GPU = "GPU & CUDA"
    DISTRIBUTED = "Distributed"
    TOOLS = "Tools"
    DOWNLOAD = "Download"
    MODEL = "Model files"


PLATFORMS = frozenset({"linux", "darwin", "windows"})


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


class SkipCheck(Exception):
    """Raised by a check that cannot judge with the facts it has (e.g. torch is not installed)."""


@dataclass(frozen=True)
class Healthy:
    facts: Facts


@dataclass(frozen=True)
class Broken:
    facts: Facts
    expect: str = ""  # a substring the message must contain


Example = Union[Healthy, Broken]
CheckFunc = Callable[["Facts"], Iterator[Finding]]


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

    @property
    def doc(self) -> str:
        import inspect

        return inspect.getdoc(self.func) or ""

    def finding(self, message: str, *, remedy: str = "", severity: Severity | None = None,
                fixes: tuple[str, ...] | None = None, **evidence: Any) -> Finding:
        """A Finding of this check, carrying its default severity and fix ids unless told otherwise."""
        return Finding(self.id, severity or self.severity, message, self.fixes if fixes is None else fixes,
                       evidence, remedy)


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
