"""What a failure is, as data: the log lines that give it away, its cause and fix, and the checks that see it.

A Failure is one entry of the catalogue of what goes wrong when people run Llama locally. Its id is the public,
stable name of that failure (`dl-crlf-script`): `explain` returns it, `list --failures` prints it, bug reports
quote it. Each carries examples of log text it must match and of log text it must not, which the test suite runs
as it runs the checks' examples.
"""

from __future__ import annotations

import enum
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from llamadoctor.i18n import N_, _

# Colour and cursor codes that terminals (and rich, tqdm, torchrun) write into saved logs.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
# The prefixes torchrun and its log handlers put before each rank's lines: `[rank0]:`, `[default0]:`, `0: `.
_RANK_PREFIX = re.compile(r"^(?:\[(?:rank|default)\d+\]:\s?|\d{1,4}: )")


class Step(str, enum.Enum):
    """Where in the afternoon of running Llama the failure happens."""

    DOWNLOAD = "download"
    INSTALL = "install"
    CONVERT = "convert"
    LOAD = "load"
    RUN = "run"
    DISTRIBUTED = "distributed"
    SERVE = "serve"


# The steps as people read them; the values above are what `--json` and the README's table say.
STEP_NAMES = {
    # TRANSLATORS: the step of running Llama a failure happens at, shown under its id
    Step.DOWNLOAD: N_("download"),
    Step.INSTALL: N_("install"),
    Step.CONVERT: N_("convert"),
    Step.LOAD: N_("load"),
    Step.RUN: N_("run"),
    Step.DISTRIBUTED: N_("distributed"),
    Step.SERVE: N_("serve"),
}


def paragraphs(text: str) -> list[str]:
    """The paragraphs of a failure's text (cause, fix, title...): each one is a message to translate. Unlike
    `i18n.paragraphs` (documentation, re-flowed), a paragraph keeps its line breaks: a fix's lines are commands."""
    return [part for part in text.split("\n\n") if part.strip()]


def in_words(default: str) -> bool:
    """Whether a placeholder's default is words to translate (`the GPU`), not a name (`download.sh`, `WORLD_SIZE`)."""
    return " " in default.strip()


def shown(text: str) -> str:
    """A failure's text in the language people are spoken to in, paragraph by paragraph.

    The catalogue's texts stay plain English where they are declared; the translators' tool extracts their
    paragraphs, so each is translated by `_()` of exactly that string. Placeholders are filled afterwards."""
    return "\n\n".join(_(part) if part.strip() else part for part in text.split("\n\n"))


@dataclass(frozen=True)
class Signature:
    """One way a failure shows in a log: `pattern`, a regular expression searched in every (normalised) line.

    Named groups (`(?P<host>[^\\]]+)`) capture the values the cause and fix quote back to the user. `near` is a
    second expression that must occur somewhere in the same log for the signature to count (a bare `Killed` is a
    failure of the converter only when the converter ran). A `warning` line does not stop a run by itself, so the
    failures that did stop it rank first. A `weak` signature is a hint, not proof (low confidence).
    """

    pattern: str
    near: str = ""
    warning: bool = False
    weak: bool = False

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern)

    @cached_property
    def near_regex(self) -> re.Pattern[str] | None:
        return re.compile(self.near, re.MULTILINE) if self.near else None

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(self.regex.groupindex)


@dataclass(frozen=True)
class Handling:
    """What `llamadoctor run` does when a failure applies to it: `does`, in a few words, and `where`, the names
    in the runner that do it (`module:name` under `llamadoctor.runner`), so the claim can be held to the code."""

    does: str
    where: tuple[str, ...]


@dataclass(frozen=True)
class Failure:
    """One catalogued failure.

    `cause` and `fix` are prose (inline `code` in backticks); `commands` are the fix as POSIX shell commands and
    `windows_commands` their PowerShell form where it differs. All three may quote `{name}` placeholders: each is
    a named group of every signature or has a value in `defaults`. `checks` and `fixes` are the ids of the
    `llamadoctor check` checks that confirm the failure on this machine and the `llamadoctor fix` fixes that
    repair it. `matches` are log excerpts the failure must be found in; `ignores` excerpts (healthy output, or a
    neighbouring failure) it must not be found in.

    `log_only` says, in plain words, why no check can see the failure before it happens (what it depends on is
    only known at run time); a failure has checks or this reason, never both. `runner` is what `llamadoctor run`
    does about it, where it does something.
    """

    id: str
    step: Step
    title: str
    signatures: tuple[Signature, ...]
    cause: str
    fix: str
    matches: tuple[str, ...]
    ignores: tuple[str, ...]
    commands: tuple[str, ...] = ()
    windows_commands: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    fixes: tuple[str, ...] = ()
    defaults: Mapping[str, str] = field(default_factory=dict)
    log_only: str = ""
    runner: Handling | None = None

    def placeholders(self) -> set[str]:
        """The `{name}` fields the cause, fix and commands quote."""
        texts = (self.cause, self.fix, *self.commands, *self.windows_commands)
        return {name for text in texts for _, name, _, _ in string.Formatter().parse(text) if name}

    def fill(self, text: str, values: Mapping[str, str]) -> str:
        """`text` with its placeholders replaced by captured `values`, or by the defaults where none was captured
        (in the language people are spoken to in, for a default written in words)."""
        defaults = {k: shown(v) if in_words(v) else v for k, v in self.defaults.items()}
        known = {**defaults, **{k: v for k, v in values.items() if v}}
        return string.Formatter().vformat(text, (), _Missing(known))


class _Missing(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class Hit:
    """A signature of a failure found on a line of a log."""

    failure: Failure
    signature: Signature
    line_number: int  # 1-based
    line: str  # normalised
    values: Mapping[str, str]


def normalise(line: str) -> str:
    """A log line as the signatures see it: no colour codes, no carriage returns, no rank prefix."""
    line = _ANSI.sub("", line).replace("\r", "")
    return _RANK_PREFIX.sub("", line, count=1)


def search(failures: Iterable[Failure], text: str) -> list[Hit]:
    """Every signature of `failures` found in `text`, in line order: the plain reference matcher that the
    examples are held to. `explain` reads logs of any size with the same semantics, faster."""
    lines = [normalise(line) for line in text.splitlines()]
    joined = "\n".join(lines)
    hits = []
    for failure in failures:
        for signature in failure.signatures:
            if signature.near_regex is not None and not signature.near_regex.search(joined):
                continue
            for number, line in enumerate(lines, 1):
                found = signature.regex.search(line)
                if found:
                    values = {k: v for k, v in found.groupdict().items() if v is not None}
                    hits.append(Hit(failure, signature, number, line, values))
    return sorted(hits, key=lambda h: h.line_number)
