"""`check --distributed`: refuse politely outside torchrun, else run this rank's part of the job."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from llamadoctor.doctor import Diagnosis
from llamadoctor.errors import UsageError
from llamadoctor.job import JobFacts
from llamadoctor.job_rank import launch_hint, nodes_hint, under_torchrun
from llamadoctor.output import did_you_mean


@dataclass(frozen=True)
class JobOutput:
    json: bool = False
    markdown: bool = False
    strict: bool = False


def check_distributed(
    diagnosis: Diagnosis,
    output: JobOutput,
    *,
    hash_shards: bool,
    timeout: float,
    argv: Sequence[str],
    nodes: Optional[int] = None,
) -> int:
    """The exit code of the whole job; only rank 0 prints."""
    if not under_torchrun(os.environ):
        raise UsageError(
            f"check --distributed runs under torchrun; launch it with: {launch_hint(argv, diagnosis.options.nproc)}",
            f"on several machines, run on each: {nodes_hint(argv, diagnosis.options.nproc, nodes)}",
        )
    if timeout <= 0:
        raise UsageError(f"--timeout must be above 0 seconds, not {timeout:g}")
    from llamadoctor.engine import left_out
    from llamadoctor.job import all_job_checks
    from llamadoctor.job_report import judge_job, render_job_human, render_job_json, render_job_markdown
    from llamadoctor.redact import redacting_console
    from llamadoctor.registry import all_checks
    from llamadoctor.runner.job_transport import Settings, run_job

    def checks_left_out() -> dict[str, str]:
        try:
            return left_out(all_checks(), diagnosis.only, diagnosis.skip)
        except KeyError as exc:
            hint = did_you_mean(exc.args[0], [c.id for c in all_checks()])
            raise UsageError(f"unknown check id {exc.args[0]!r}{hint} (see `llamadoctor list`)") from None

    # Loading every check costs each rank CPU the job's ranks share; only rank 0 judges, so only rank 0 loads
    # them, unless --only/--skip must be refused alike on every rank.
    if diagnosis.only or diagnosis.skip:
        checks_left_out()

    def judge(job: JobFacts) -> int:
        report = judge_job(job, all_checks(), all_job_checks(), checks_left_out())
        if output.json:
            print(render_job_json(report, strict=output.strict))
        elif output.markdown:
            print(render_job_markdown(report, strict=output.strict), end="")
        else:
            render_job_human(report, redacting_console(highlight=False), strict=output.strict)
        return report.exit_code(strict=output.strict)

    from llamadoctor.probes.job import launcher_argv

    launcher = None if nodes else launcher_argv()
    settings = Settings(timeout, hash_shards, nodes, tuple(launcher) if launcher else None)
    code = run_job(diagnosis, settings, judge)
    _leave(code)
    return code  # not reached: for readers and type checkers


def _leave(code: int) -> None:
    """End this rank now. A process that imported torch spends seconds in the interpreter's final garbage
    collection, and torchrun waits for the slowest rank to exit; every byte the rank writes is flushed first,
    and nothing of ours is left to clean up (the process groups are destroyed, the store is torchrun's)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
