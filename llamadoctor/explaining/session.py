"""`llamadoctor explain` from end to end: read the log (or run the command), explain it, confirm on this
machine, print, and choose the exit code. The CLI only parses options and calls these."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Optional, TextIO

from llamadoctor.doctor import Diagnosis, facts_for
from llamadoctor.errors import UsageError
from llamadoctor.explaining import Explanation, explain_bytes, explain_text
from llamadoctor.explaining.command import Finished, Intended, parse_command, run_streaming
from llamadoctor.explaining.confirm import Confirmation, confirm, judge_here, linked_checks
from llamadoctor.explaining.quiet import render_quiet
from llamadoctor.explaining.render import render_human, to_json
from llamadoctor.explaining.source import TooLarge, read_utf8
from llamadoctor.facts import Facts, Options
from llamadoctor.i18n import N_, _
from llamadoctor.model import Group, Status
from llamadoctor.reading import display, reason
from llamadoctor.redact import SafeStream

FOUND, NOTHING_KNOWN = 1, 0
PASTE_HINT = N_("Paste the log, then press Ctrl-D on a line of its own (Windows: Ctrl-Z, then Enter).")
_EXAMPLE = "llamadoctor explain error.log"
_BEFORE_DOWNLOAD = (Group.SYSTEM, Group.TOOLS, Group.DOWNLOAD)
_BEFORE_RUN = (Group.SYSTEM, Group.PYTHON, Group.GPU, Group.DISTRIBUTED, Group.MODEL)


@dataclass(frozen=True)
class Output:
    json: bool = False
    checks: bool = True  # confirm each match on this machine
    quiet: bool = False  # only the one-line verdict (JSON, when asked for, wins)

    @property
    def confirms(self) -> bool:
        """Whether the checks run: their results are shown in full output only."""
        return self.checks and (self.json or not self.quiet)


def read_log(path: Optional[str]) -> tuple[bytes, str]:
    """The log as UTF-8 bytes and how to name it: a file, or stdin for `-` and for no path."""
    if path in (None, "-"):
        if sys.stdin is None:
            raise UsageError(
                _("no log given and no standard input"), _("give a file: {command}").format(command=_EXAMPLE)
            )
        if sys.stdin.isatty():
            print(_(PASTE_HINT), file=sys.stderr, flush=True)
        return _decoded(sys.stdin.buffer, _("standard input")), _("the pasted log")
    try:
        if os.path.isdir(path):
            raise UsageError(_("{path} is a folder, not a log file").format(path=path))
        with open(path, "rb") as stream:  # not only regular files: `explain <(command 2>&1)` is a pipe
            return _decoded(stream, path), display(path)
    except OSError as exc:
        raise UsageError(_("cannot read {path}: {reason}").format(path=display(path), reason=reason(exc))) from None


def _decoded(stream: BinaryIO, name: str) -> bytes:
    try:
        return read_utf8(stream)
    except TooLarge as exc:
        raise UsageError(
            _("{name} is larger than {size} MB").format(name=name, size=exc.megabytes),
            _("give its end: {command}").format(command="tail -c 100000000 LOG | llamadoctor explain"),
        ) from None


def explain_log(path: Optional[str], output: Output) -> int:
    """Explain a saved or piped log: exit 1 when a known failure is in it, 0 when none is."""
    data, source = read_log(path)
    explanation = explain_bytes(data)
    del data
    facts = _facts_here() if output.confirms and explanation.matches else None
    _print(explanation, output, facts, source)
    return FOUND if explanation.matches else NOTHING_KNOWN


def explain_command(argv: Sequence[str], output: Output, timeout: float) -> int:
    """Check what the command line makes relevant, run it, and explain its failure; its exit code is returned."""
    facts = None
    if output.confirms:
        intended = parse_command(argv)
        facts = _facts_here(_diagnosis_for(intended))
        _print_before(facts, intended, output)
    sys.stdout.flush()  # what llamadoctor said so far comes before the command's output
    stream = _live(sys.stderr if output.json else sys.stdout)

    def show(text: str) -> None:
        stream.write(text)
        stream.flush()

    try:
        finished = run_streaming(argv, show, timeout)
    except OSError as exc:
        raise UsageError(
            _("cannot run {program}: {reason}").format(program=display(argv[0]), reason=reason(exc))
        ) from None
    explanation = explain_text(finished.tail)
    # A script that reports a failure and carries on (a download that 403s) ends with 0: still worth saying.
    if finished.returncode or explanation.matches or output.json:
        _print(explanation, output, facts, _what_ran(argv, finished), finished)
    return finished.returncode


def _live(stream: TextIO) -> TextIO:
    """The stream for a command's own output: still redacted, but a terminal gets its progress bars
    (carriage returns, cursor moves) as the command drew them."""
    if isinstance(stream, SafeStream):
        return SafeStream(stream.raw, live=True)  # type: ignore[return-value]
    return stream


def _what_ran(argv: Sequence[str], finished: Finished) -> str:
    program = display(argv[0])
    if finished.timed_out:
        return _("the output of {program} (timed out and was stopped)").format(program=program)
    return _("the output of {program} (exit code {code})").format(program=program, code=finished.returncode)


def _interpreter(intended: Intended) -> Optional[str]:
    """The Python the command runs the script with, when it can be told and exists."""
    if intended.python:
        return shutil.which(intended.python)
    if intended.launcher:
        from llamadoctor.probes.launcher import launcher_on_path
        from llamadoctor.probes.system import os_name

        launcher = launcher_on_path(shutil.which(intended.launcher), os_name())
        if launcher is not None and launcher.interpreter_exists:
            return shutil.which(launcher.interpreter or "") or launcher.interpreter
    return None


def _diagnosis_for(intended: Intended) -> Diagnosis:
    ckpt = intended.ckpt_dir
    options = Options(
        nproc=intended.nproc,
        max_seq_len=intended.max_seq_len or Options.max_seq_len,
        max_batch_size=intended.max_batch_size or Options.max_batch_size,
        no_hash=True,  # the run reads the shards itself; hashing 13 GB first would only delay it
    )
    folders = (Path(ckpt),) if ckpt and os.path.isdir(ckpt) else ()
    return Diagnosis(python=_interpreter(intended), model_dirs=folders, options=options)


def _print_before(facts: Facts, intended: Intended, output: Output) -> None:
    """The problems the checks relevant to this command line see, before it starts."""
    from llamadoctor.engine import run
    from llamadoctor.redact import redacting_console
    from llamadoctor.registry import all_checks

    groups = _BEFORE_DOWNLOAD if intended.downloads else _BEFORE_RUN
    report = run(facts, [c for c in all_checks() if c.group in groups], partial=True)
    console = redacting_console(highlight=False, stderr=output.json)
    problems = report.with_status(Status.ERROR, Status.WARNING)
    # TRANSLATORS: the tally of the checks run before the command, as in "3 checks passed, 1 skipped"
    headline = _("llamadoctor: {tally} for this command line").format(tally=report.tally())
    console.print(headline, style="dim", markup=False)
    for result in problems:
        for finding in result.findings:
            console.print(f"  {finding.severity.value} {result.check.id}: {finding.message}", markup=False)
    if intended.ckpt_dir and not os.path.isdir(intended.ckpt_dir):
        missing = _("error --ckpt_dir {path}: no such folder here").format(path=display(intended.ckpt_dir))
        console.print("  " + missing, markup=False)


def _facts_here(diagnosis: Optional[Diagnosis] = None) -> Facts:
    return facts_for(diagnosis or Diagnosis(options=Options(no_hash=True)))


def _confirmations(explanation: Explanation, facts: Facts) -> dict[str, Confirmation]:
    failures = [m.failure for m in explanation.matches]
    report = judge_here(facts, linked_checks(failures))
    return {f.id: confirm(f, report) for f in failures}


def _shell(facts: Optional[Facts]) -> str:
    if facts is not None:
        return facts.platform.shell
    from llamadoctor.probes.system import detect_shell, os_name

    return detect_shell(os_name(), os.environ)


def _print(
    explanation: Explanation,
    output: Output,
    facts: Optional[Facts],
    source: str,
    finished: Optional[Finished] = None,
) -> None:
    from llamadoctor.redact import redacting_console

    shell = _shell(facts)
    here = _confirmations(explanation, facts) if facts is not None and explanation.matches else None
    if output.quiet and not output.json:
        render_quiet(explanation, redacting_console(highlight=False), source=source)
    elif output.json:
        ran = None if finished is None else {"returncode": finished.returncode, "timed_out": finished.timed_out}
        print(to_json(explanation, shell=shell, here=here, source=source, command=ran))
    else:
        console = redacting_console(highlight=False)
        if finished is not None:
            console.print()
        render_human(explanation, console, shell=shell, here=here, source=source, ran_here=finished is not None)
