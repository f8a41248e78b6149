"""Run checks over Facts and collect what each one concluded. Pure: no I/O, no printing."""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from llamadoctor.facts import Facts
from llamadoctor.model import Check, Finding, Severity, SkipCheck, Status
from llamadoctor.registry import run_check

INTERNAL_ERROR = "internal-error"


@dataclass(frozen=True)
class CheckResult:
    check: Check
    status: Status
    findings: tuple[Finding, ...] = ()
    seconds: float = 0.0
    detail: str = ""  # why it was skipped, or the traceback of a crash


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

    @property
    def crashed(self) -> list[CheckResult]:
        return [r for r in self.results if r.status is Status.CRASHED]

    @property
    def ready(self) -> bool:
        return self.count(Severity.ERROR) == 0

    @property
    def checks_run(self) -> int:
        return sum(1 for r in self.results if r.status is not Status.SKIPPED)

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
        errors, warnings = self.count(Severity.ERROR), self.count(Severity.WARNING)
        if self.crashed:
            return f"{len(self.crashed)} check(s) crashed inside llamadoctor: the report is incomplete"
        if errors:
            return f"{errors} problem{'s' if errors != 1 else ''} block{'' if errors != 1 else 's'} running Llama"
        tail = f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else ""
        if self.partial:
            ran = self.checks_run
            return f"no problem found by the {ran} check{'s' if ran != 1 else ''} run{tail}"
        return f"ready to run Llama on {self.device}{tail}"


def select(checks: Sequence[Check], only: Iterable[str] = (), skip: Iterable[str] = ()) -> list[Check]:
    """Checks named by --only/--skip; raises KeyError naming the first unknown id."""
    known = {c.id for c in checks}
    for name in [*only, *skip]:
        if name not in known:
            raise KeyError(name)
    wanted, unwanted = set(only), set(skip)
    return [c for c in checks if (not wanted or c.id in wanted) and c.id not in unwanted]


def run_one(spec: Check, facts: Facts) -> CheckResult:
    if facts.os not in spec.platforms:
        return CheckResult(spec, Status.SKIPPED, detail=f"not relevant on {facts.os}")
    started = time.perf_counter()
    try:
        findings = tuple(run_check(spec, facts))
    except SkipCheck as why:
        return CheckResult(spec, Status.SKIPPED, seconds=time.perf_counter() - started, detail=str(why))
    except Exception as exc:
        crash = Finding(spec.id, Severity.ERROR, f"the check itself failed ({type(exc).__name__}: {exc}); "
                        "this is a bug in llamadoctor, please report it", evidence={"internal": INTERNAL_ERROR})
        return CheckResult(spec, Status.CRASHED, (crash,), time.perf_counter() - started,
                           traceback.format_exc())
    seconds = time.perf_counter() - started
    if not findings:
        return CheckResult(spec, Status.PASSED, seconds=seconds)
    worst = min(findings, key=lambda f: f.severity.rank).severity
    return CheckResult(spec, Status(worst.value), findings, seconds)


def run(facts: Facts, checks: Sequence[Check], *, partial: bool = False) -> Report:
    return Report(facts, tuple(run_one(c, facts) for c in checks), partial)
