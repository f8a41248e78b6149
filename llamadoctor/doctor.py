"""`llamadoctor check` as a function: validate the request, gather facts, run the selected checks."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from llamadoctor.engine import Report, left_out, run
from llamadoctor.errors import UsageError
from llamadoctor.errors import readable_dir as _readable_dir
from llamadoctor.facts import Facts, Options
from llamadoctor.gather import Request, gather
from llamadoctor.i18n import _
from llamadoctor.output import did_you_mean
from llamadoctor.probes.stacks import StackRequest
from llamadoctor.probes.target import TargetError
from llamadoctor.registry import all_checks

DTYPES = ("bf16", "fp16", "fp32")


@dataclass(frozen=True)
class Diagnosis:
    python: Optional[str] = None
    repo: Optional[Path] = None
    model_dirs: Sequence[Path] = ()
    options: Options = field(default_factory=Options)
    only: Sequence[str] = ()
    skip: Sequence[str] = ()
    search_depth: int = 1  # how many folder levels under the repo folder are searched for model folders
    stacks: StackRequest = field(default_factory=StackRequest)  # GGUF files, hub repositories, --online


def validate(diagnosis: Diagnosis) -> Request:
    repo = _readable_dir(diagnosis.repo, "--repo") if diagnosis.repo else Path.cwd()
    models = [_readable_dir(p, "--model-dir") for p in diagnosis.model_dirs]
    dtype = diagnosis.options.dtype
    if dtype is not None and dtype not in DTYPES:
        raise UsageError(
            _("--dtype must be one of {choices}, not {given}").format(choices=", ".join(DTYPES), given=repr(dtype))
        )
    options = diagnosis.options
    if options.now is None:  # checks never read the clock: the time they judge by is a fact like any other
        options = dataclasses.replace(options, now=time.time())
    if diagnosis.search_depth < 0:
        raise UsageError(_("--search-depth must be 0 or more, not {given}").format(given=diagnosis.search_depth))
    return Request(
        diagnosis.python,
        repo.resolve(),
        tuple(p.resolve() for p in models),
        options,
        diagnosis.search_depth,
        _stack_request(diagnosis.stacks),
    )


_HUB_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def _stack_request(asked: StackRequest) -> StackRequest:
    for path in asked.model_files:
        if not path.is_file():
            raise UsageError(
                _("--model-file {path} is not a file").format(path=path), _("name a .gguf or GGML .bin file")
            )
    for repo in asked.hf_repos:
        if not _HUB_REPO.match(repo):
            not_repo = _("--hf-repo {repo} is not a repository id").format(repo=repr(repo))
            raise UsageError(not_repo, _("write it as owner/name"))
    files = tuple(p.resolve() for p in asked.model_files)
    return dataclasses.replace(asked, model_files=files, hf_repos=tuple(asked.hf_repos))


def facts_for(diagnosis: Diagnosis, *, progress: bool = False) -> Facts:
    request = validate(diagnosis)
    with _hash_progress(progress) as bar:
        try:
            return gather(request, hash_progress=bar)
        except TargetError as exc:
            raise UsageError(f"--python: {exc}") from None


@contextlib.contextmanager
def _hash_progress(wanted: bool) -> Iterator[Optional[Callable[[int, int], None]]]:
    """A progress bar for checksum verification, on stderr and only where a person is watching."""
    from llamadoctor.output import stderr_console, watching

    if not wanted or not watching():
        yield None
        return
    from llamadoctor.progress import rich_progress

    with rich_progress(stderr_console()) as bar:
        yield bar


def diagnose(diagnosis: Diagnosis, *, progress: bool = False) -> Report:
    checks = all_checks()
    try:
        skipped = left_out(checks, diagnosis.only, diagnosis.skip)
    except KeyError as exc:
        known = [c.id for c in checks]
        hint = did_you_mean(exc.args[0], known)
        # TRANSLATORS: {hint} is empty or " (did you mean 'x'?)", translated on its own.
        unknown = _("unknown check id {id}{hint} (see `llamadoctor list`)").format(id=repr(exc.args[0]), hint=hint)
        raise UsageError(unknown) from None
    return run(facts_for(diagnosis, progress=progress), checks, skipped=skipped)
