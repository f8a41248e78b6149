"""`run`'s preflight is `check`'s own: the doctor's Facts for the folder to run and its checks of the files a run
reads, so a folder `check` calls ready is one `run` loads, and one it rejects is refused before any weight is
read, with the same words.

Checks that judge Meta's reference code rather than this runner are left to `check`: shards against
--nproc_per_node (this runner merges or splits shards itself), the chat example's batch size, the memory
estimate (the runner measures the tensors it loaded) and the md5 of every file (hashing gigabytes on every run;
`check` does it once and remembers).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

from llamadoctor.doctor import Diagnosis, facts_for
from llamadoctor.engine import run
from llamadoctor.errors import UsageError
from llamadoctor.facts import Facts, Options
from llamadoctor.files import ModelDir
from llamadoctor.gather import tokenizer_facts
from llamadoctor.i18n import _
from llamadoctor.model import Check, Finding, Severity
from llamadoctor.registry import all_checks
from llamadoctor.runner.errors import RunError

RUN_CHECKS = (
    "model-dir-incomplete",
    "params-invalid",
    "shard-corrupt",
    "model-version-mismatch",
    "tokenizer-library-missing",
    "tokenizer-vocab-mismatch",
)


def run_facts(model_dir: Path, tokenizer_path: Optional[Path], options: Options) -> Facts:
    """The doctor's Facts about `model_dir` alone, as `llamadoctor check --model-dir` gathers them.

    The folder is judged for this runner: no repo folder (its Meta code is not what runs), no other model
    folders, and the tokenizer given with --tokenizer-path in place of the folder's own.
    """
    diagnosis = Diagnosis(model_dirs=(model_dir,), options=dataclasses.replace(options, no_hash=True), search_depth=0)
    try:
        facts = facts_for(diagnosis)
    except UsageError as exc:
        raise RunError(str(exc), _("pass --model-dir the folder holding the model")) from None
    models = tuple(_with_tokenizer(m, tokenizer_path) for m in facts.models if m.source == "given")
    return dataclasses.replace(facts, repo=None, models=models)


def _with_tokenizer(model: ModelDir, tokenizer_path: Optional[Path]) -> ModelDir:
    if tokenizer_path is None:
        return model
    return dataclasses.replace(model, tokenizer=tokenizer_facts(tokenizer_path))


def first_error(facts: Facts) -> Optional[tuple[Finding, Check]]:
    """The first error-level finding of the checks a run needs (the order `check` lists them), and its check."""
    checks = [c for c in all_checks() if c.id in RUN_CHECKS]
    report = run(facts, checks)
    by_id = {c.id: c for c in checks}
    return next(((f, by_id[f.check]) for f in report.findings if f.severity is Severity.ERROR), None)


def refuse_unless_ready(model_dir: Path, tokenizer_path: Optional[Path], options: Options) -> None:
    """Raise RunError with the first error `check --model-dir` would report about the files a run reads."""
    found = first_error(run_facts(model_dir, tokenizer_path, options))
    if found is None:
        return
    finding, spec = found
    raise RunError(" ".join(finding.message.split()), _fix(finding, spec))


def _fix(finding: Finding, spec: Check) -> str:
    """The remedy's first command, else the check's own advice (its "How to fix" section), on one line."""
    remedy = next((line.strip() for line in finding.remedy.splitlines() if line.strip()), "")
    advice = remedy or " ".join(spec.doc.partition("How to fix:")[2].split())
    if finding.fixes:
        advice = _("{advice} (or `llamadoctor fix {check}`)").format(advice=advice, check=finding.check)
    return advice
