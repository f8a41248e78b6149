"""Run checks over Facts and collect what each one concluded. Pure: no I/O, no printing."""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from llamadoctor.facts import Facts
from llamadoctor.files import targets
from llamadoctor.i18n import N_, _, ngettext
from llamadoctor.model import (
    OS_NAMES,
    Check,
    Finding,
    NotApplicable,
    NotVerified,
    Passed,
    Severity,
    SkipCheck,
    Status,
)
from llamadoctor.registry import outcomes

INTERNAL_ERROR = "internal-error"
NOT_IN_ONLY, SKIPPED_BY_USER = N_("not in --only"), "--skip"
LEFT_OUT = (NOT_IN_ONLY, SKIPPED_BY_USER)  # the reasons of checks the user left out, in English


@dataclass(frozen=True)
class CheckResult:
    check: Check
    status: Status
    findings: tuple[Finding, ...] = ()
    seconds: float = 0.0
    detail: str = ""  # the traceback of a crash
    checked: str = ""  # what a passed check looked at
    reason: str = ""  # why it was skipped or not applicable
    unverified: str = ""  # what was there but not verified, and why ("--no-hash")

    @property
    def ran(self) -> bool:
        """The check looked at something (whatever it concluded)."""
        return self.status not in (Status.SKIPPED, Status.NOT_APPLICABLE)


@dataclass(frozen=True)
class Report:
    facts: Facts
    results: tuple[CheckResult, ...]
    partial: bool = False  # --only/--skip left checks out: the verdict speaks for the ones that ran

    @property
    def findings(self) -> list[Finding]:
        found = [f for r in self.results for f in r.findings]
        return sorted(found, key=lambda f: f.severity.rank)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    def with_status(self, *statuses: Status) -> list[CheckResult]:
        return [r for r in self.results if r.status in statuses]

    @property
    def crashed(self) -> list[CheckResult]:
        return self.with_status(Status.CRASHED)

    @property
    def ready(self) -> bool:
        return self.count(Severity.ERROR) == 0

    @property
    def checks_run(self) -> int:
        return sum(1 for r in self.results if r.ran)

    @property
    def not_verified(self) -> list[str]:
        """ "check-id (why)" for each check that left something it could have looked at unverified."""
        return [f"{r.check.id} ({r.unverified})" for r in self.results if r.unverified]

    def exit_code(self, *, strict: bool = False) -> int:
        if self.crashed:
            return 3
        if not self.ready or (strict and self.count(Severity.WARNING)):
            return 1
        return 0

    @property
    def device(self) -> str:
        """What Llama would run on, judged from the facts."""
        torch, gpu = self.facts.torch, self.facts.gpu
        if gpu.gpus and torch.installed and (torch.cuda or torch.hip):
            return "ROCm" if torch.hip else "CUDA"
        if gpu.apple_silicon and torch.mps:
            return "MPS"
        return "CPU"

    def verdict(self) -> str:
        if not self.not_verified:
            return self._headline()
        return _("{headline}; not verified: {checks}").format(
            headline=self._headline(), checks=", ".join(self.not_verified)
        )

    def _headline(self) -> str:
        errors, warnings = self.count(Severity.ERROR), self.count(Severity.WARNING)
        if self.crashed:
            crashed = len(self.crashed)
            return ngettext(
                "{count} check crashed inside llamadoctor: the report is incomplete",
                "{count} checks crashed inside llamadoctor: the report is incomplete",
                crashed,
            ).format(count=crashed)
        if errors:
            return ngettext(
                "{count} problem blocks running Llama", "{count} problems block running Llama", errors
            ).format(count=errors)
        tail = (
            ngettext(" ({count} warning)", " ({count} warnings)", warnings).format(count=warnings) if warnings else ""
        )
        if self.partial:
            ran = self.checks_run
            return ngettext(
                "no problem found by the {count} check run{warnings}",
                "no problem found by the {count} checks run{warnings}",
                ran,
            ).format(count=ran, warnings=tail)
        runs = targets(self.facts.models)
        if not runs:
            return _(
                "the machine is set up for Llama on {device}{warnings}; no model folder to run was found: "
                "give one with --model-dir"
            ).format(device=self.device, warnings=tail)
        return _("ready to run {models} on {device}{warnings}").format(
            models=", ".join(m.name for m in runs), device=self.device, warnings=tail
        )

    def tally(self) -> str:
        """How many checks passed, found something, did not apply or were skipped."""
        passed = len(self.with_status(Status.PASSED))
        found = len(self.with_status(Status.ERROR, Status.WARNING, Status.INFO, Status.CRASHED))
        parts = [ngettext("{count} check passed", "{count} checks passed", passed).format(count=passed)]
        if found:
            parts.append(ngettext("{count} found a problem", "{count} found problems", found).format(count=found))
        for status, label in (
            (Status.SKIPPED, N_("{count} skipped")),
            (Status.NOT_APPLICABLE, N_("{count} not applicable")),
        ):
            if self.with_status(status):
                parts.append(_(label).format(count=len(self.with_status(status))))
        # TRANSLATORS: the separator between the parts of a list, as in "3 checks passed, 1 skipped".
        return _(", ").join(parts)


def select(checks: Sequence[Check], only: Iterable[str] = (), skip: Iterable[str] = ()) -> list[Check]:
    """Checks named by --only/--skip; raises KeyError naming the first unknown id."""
    left = left_out(checks, only, skip)
    return [c for c in checks if c.id not in left]


def left_out(checks: Sequence[Check], only: Iterable[str] = (), skip: Iterable[str] = ()) -> dict[str, str]:
    """Check id -> why --only/--skip leaves it out; raises KeyError naming the first unknown id."""
    only, skip = list(only), list(skip)
    known = {c.id for c in checks}
    for name in [*only, *skip]:
        if name not in known:
            raise KeyError(name)
    out = {c.id: _(NOT_IN_ONLY) for c in checks if only and c.id not in only}
    out.update({name: SKIPPED_BY_USER for name in skip})
    return out


def _platforms(spec: Check) -> str:
    # TRANSLATORS: what joins the names of operating systems, as in "only on macOS and Linux".
    return _(" and ").join(OS_NAMES[p] for p in sorted(spec.platforms))


def left_out_by_user(result: CheckResult) -> bool:
    """The check was skipped because --only or --skip left it out (in whatever language its reason is)."""
    return result.status is Status.SKIPPED and result.reason in {*LEFT_OUT, *(_(r) for r in LEFT_OUT)}


def _separator() -> str:
    # TRANSLATORS: what separates the things one check looked at, or the reasons it gives, as in
    # "download.sh: LF line endings; 3 files of llama-2-7b against checklist.chk".
    return _("; ")


def judge(spec: Check, facts: Facts) -> CheckResult:
    """What one check concludes, as a status that says what was looked at. Raises what the check raises."""
    if facts.os not in spec.platforms:
        return CheckResult(
            spec, Status.NOT_APPLICABLE, reason=_("only on {platforms}").format(platforms=_platforms(spec))
        )
    findings: list[Finding] = []
    checked: list[str] = []
    missing: list[NotApplicable] = []
    for outcome in outcomes(spec, facts):
        if isinstance(outcome, Finding):
            findings.append(outcome)
        elif isinstance(outcome, Passed):
            checked.append(outcome.checked)
        else:
            missing.append(outcome)
    reason = _separator().join(
        _("not verified: {what}").format(what=m.reason) if isinstance(m, NotVerified) else m.reason for m in missing
    )
    unverified = _separator().join(m.reason for m in missing if isinstance(m, NotVerified))
    if findings:
        worst = min(findings, key=lambda f: f.severity.rank).severity
        return CheckResult(
            spec,
            Status(worst.value),
            tuple(findings),
            checked=_separator().join(checked),
            reason=reason,
            unverified=unverified,
        )
    if missing and not checked:
        return CheckResult(spec, Status.NOT_APPLICABLE, reason=reason, unverified=unverified)
    return CheckResult(
        spec,
        Status.PASSED,
        checked=_separator().join(checked) or spec.checked_text(facts),
        reason=reason,
        unverified=unverified,
    )


def run_one(spec: Check, facts: Facts) -> CheckResult:
    started = time.perf_counter()
    try:
        result = judge(spec, facts)
    except SkipCheck as why:
        return CheckResult(spec, Status.SKIPPED, seconds=time.perf_counter() - started, reason=str(why))
    except Exception as exc:
        message = _("the check itself failed ({error}); this is a bug in llamadoctor, please report it")
        crash = Finding(
            spec.id,
            Severity.ERROR,
            message.format(error=f"{type(exc).__name__}: {exc}"),
            evidence={"internal": INTERNAL_ERROR},
        )
        return CheckResult(spec, Status.CRASHED, (crash,), time.perf_counter() - started, traceback.format_exc())
    return dataclasses.replace(result, seconds=time.perf_counter() - started)


def run(
    facts: Facts, checks: Sequence[Check], *, partial: bool = False, skipped: Mapping[str, str] | None = None
) -> Report:
    """Run `checks` over `facts`; those in `skipped` (id -> why) are listed as skipped, not run."""
    skipped = skipped or {}
    results = tuple(
        CheckResult(c, Status.SKIPPED, reason=skipped[c.id]) if c.id in skipped else run_one(c, facts) for c in checks
    )
    return Report(facts, results, partial or bool(skipped))
