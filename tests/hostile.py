"""Running every command on one hostile input and holding it to the promise every command makes.

The promise: exit 0, 1 or 2, never 3; never a traceback; on an error one line on stderr; no hang (each run
under a deadline); none of the given secrets printed, raw or percent-encoded. `TALLY` counts the runs and
each kind of broken promise, so a larger run (`LLAMADOCTOR_HOSTILE_EXAMPLES=500 pytest -s tests/test_hostile_*.py`)
reports its figures at the end of the session.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

from hypothesis import HealthCheck, settings
from typer.testing import CliRunner

from llamadoctor.cli import app

EXAMPLES = int(os.environ.get("LLAMADOCTOR_HOSTILE_EXAMPLES", "6"))
DEADLINE = 60  # seconds for one command; the slowest here takes under one
ERROR = "llamadoctor: error: "
TALLY: collections.Counter[str] = collections.Counter()


def hostile_settings(examples: int = EXAMPLES) -> settings:
    """Reproducible (derandomized, no example database) and sized for a two-core machine.

    Each example builds a folder and runs several commands, so hypothesis's too_slow and its per-example deadline
    would measure this machine's load rather than the code: the no-hang proof is `DEADLINE` per command.
    """
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@dataclass(frozen=True)
class Outcome:
    args: tuple[str, ...]
    code: int | None  # None: still running at the deadline
    stdout: str
    stderr: str


class Hung(BaseException):
    """Raised in the main thread at a command's deadline; a BaseException so no handler of ours swallows it."""


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise Hung

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def invoke(args: Sequence[str]) -> Outcome:
    """One command run in this process, as `llamadoctor ARGS` would run it."""
    try:
        with _deadline(DEADLINE):
            result = CliRunner().invoke(app, list(args))
    except Hung:
        return Outcome(tuple(args), None, "", "")
    if isinstance(result.exception, Hung):
        return Outcome(tuple(args), None, result.stdout, result.stderr)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "\nTraceback (escaped the CLI): " + repr(result.exception)
    return Outcome(tuple(args), result.exit_code, result.stdout, stderr)


def run_process(args: Sequence[str], home: Path) -> Outcome:
    """One command in its own process, killed at the deadline (which is how a hang shows)."""
    env = dict(os.environ, HOME=str(home), LLAMADOCTOR_STATE_DIR=str(home / "state"))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "llamadoctor", *args],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=DEADLINE,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Outcome(tuple(args), None, "", "")
    return Outcome(tuple(args), done.returncode, done.stdout, done.stderr)


def secret_forms(secrets: Iterable[str]) -> set[str]:
    """Each secret as it could be printed: raw or percent-encoded (once or twice)."""
    forms = set()
    for s in secrets:
        forms |= {s, quote(s, safe=""), quote_plus(s), quote(quote(s, safe=""), safe="")}
    return forms


def broken_promises(outcome: Outcome, secrets: Iterable[str] = ()) -> list[str]:
    """What `outcome` breaks of the promise every command makes (empty when it keeps it)."""
    if outcome.code is None:
        return [f"hang: still running after {DEADLINE} s"]
    text = outcome.stdout + outcome.stderr
    broken = []
    if outcome.code not in (0, 1, 2):
        broken.append(f"exit {outcome.code}")
    if "Traceback" in text:
        broken.append("traceback")
    lines = outcome.stderr.splitlines()
    errors = [line for line in lines if line.startswith(("llamadoctor: error", "llamadoctor: internal error"))]
    if (
        outcome.code != 0
        and not (len(errors) == 1 and lines[-1] == errors[0])
        and not (
            outcome.code == 1 and not errors and outcome.stdout.strip()  # a report of findings, on stdout
        )
    ):
        broken.append(f"{len(errors)} error lines, {len(lines)} lines on stderr")
    leaked = sorted(f for f in secret_forms(secrets) if f in text)
    if leaked:
        broken.append(f"secret printed: {leaked[0]!r}")
    return broken


def keeps_promises(outcomes: Iterable[Outcome], secrets: Iterable[str] = ()) -> None:
    """Count every run and every broken promise, then fail on the first run that broke one."""
    failures = []
    for outcome in outcomes:
        TALLY["cases run"] += 1
        broken = broken_promises(outcome, secrets)
        for what in broken:
            TALLY[_kind(what)] += 1
        if broken:
            failures.append(
                f"{' '.join(outcome.args)!r} -> {broken}\nstdout: {outcome.stdout[-2000:]}\n"
                f"stderr: {outcome.stderr[-2000:]}"
            )
    assert not failures, "\n\n".join(failures)


def summary() -> str:
    """The figures so far: runs, and each kind of broken promise (zero when none)."""
    kinds = ("cases run", "tracebacks", "hangs", "secrets printed", "exit 3+", "not one error line")
    return ", ".join(f"{kind}: {TALLY[kind]}" for kind in kinds)


def _kind(what: str) -> str:
    for kind in ("hang", "traceback", "secret", "exit"):
        if what.startswith(kind):
            return {"hang": "hangs", "traceback": "tracebacks", "secret": "secrets printed"}.get(kind, "exit 3+")
    return "not one error line"


def every_command(model: Path, out: Path) -> list[list[str]]:
    """The commands a user runs on a model folder (`out` must not exist yet)."""
    m = str(model)
    return [
        ["check", "--model-dir", m, "--json"],
        ["check", "--model-dir", m],
        ["estimate", "--model-dir", m],
        ["run", "text", "--model-dir", m, "--prompt", "hi", "--max-gen-len", "2", "--device", "cpu"],
        ["convert", "--model-dir", m, "--out", str(out)],
        ["fix", "--dry-run", "--repo", str(model.parent), "--model-dir", m],
    ]


@contextlib.contextmanager
def copy_of(folder: Path) -> Iterator[Path]:
    """A scratch copy of the valid model `folder`, inside a fresh parent (the repo `fix` looks at)."""
    with tempfile.TemporaryDirectory(prefix="hostile-") as scratch:
        model = Path(scratch) / "repo" / folder.name
        shutil.copytree(folder, model)
        yield model
