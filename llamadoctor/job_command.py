"""`check --distributed`: refuse politely outside torchrun, else run this rank's part of the job."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from llamadoctor.doctor import Diagnosis
from llamadoctor.errors import UsageError
from llamadoctor.job import JobFacts
from llamadoctor.job_rank import launch_hint, under_torchrun
from llamadoctor.output import did_you_mean


def check_distributed(
    diagnosis: Diagnosis, *, hash_shards: bool, timeout: float, json_out: bool, strict: bool, argv: Sequence[str]
) -> int:
    """The exit code of the whole job; only rank 0 prints."""
    if not under_torchrun(os.environ):
        raise UsageError(
            f"check --distributed runs under torchrun; launch it with: {launch_hint(argv, diagnosis.options.nproc)}"
        )
    if timeout <= 0:
        raise UsageError(f"--timeout must be above 0 seconds, not {timeout:g}")
    from llamadoctor.engine import left_out
    from llamadoctor.job import all_job_checks
    from llamadoctor.job_report import judge_job, render_job_human, render_job_json
    from llamadoctor.redact import redacting_console
    from llamadoctor.registry import all_checks
    from llamadoctor.runner.job_transport import Settings, run_job

    checks = all_checks()
    try:
        skipped = left_out(checks, diagnosis.only, diagnosis.skip)
    except KeyError as exc:
        hint = did_you_mean(exc.args[0], [c.id for c in checks])
        raise UsageError(f"unknown check id {exc.args[0]!r}{hint} (see `llamadoctor list`)") from None

    def judge(job: JobFacts) -> int:
        report = judge_job(job, checks, all_job_checks(), skipped)
        if json_out:
            print(render_job_json(report, strict=strict))
        else:
            render_job_human(report, redacting_console(highlight=False), strict=strict)
        sys.stdout.flush()
        return report.exit_code(strict=strict)

    return run_job(diagnosis, Settings(timeout, hash_shards), judge)
