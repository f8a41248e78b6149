"""Meta's checklist.chk / tokenizer_checklist.chk: the download verified in Python, md5 by md5."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from llamadoctor.checks._requires import MODEL
from llamadoctor.facts import Facts, Options
from llamadoctor.files import Checklist, ChecksumEntry, ModelDir
from llamadoctor.i18n import _, ngettext
from llamadoctor.model import (
    Broken,
    Group,
    Healthy,
    Inapplicable,
    NotApplicable,
    NotVerified,
    Outcome,
    Passed,
    Severity,
)
from llamadoctor.model_info import files_list
from llamadoctor.registry import check
from llamadoctor.testing import linux_gpu, mac_arm
from llamadoctor.testing_files import meta_model

OK = ChecksumEntry("consolidated.00.pth", "0" * 32, "ok", "0" * 32, 13476925163)
BAD = ChecksumEntry("consolidated.00.pth", "0" * 32, "mismatch", "f" * 32, 13476925163)
CHK = "/home/ada/llama/llama-2-7b/checklist.chk"


def _label(chk: Checklist) -> str:
    if chk.known:
        return _("Meta's published md5s of {release} (no checklist.chk; its params.json is that release's)").format(
            release=chk.known
        )
    return chk.path.replace("\\", "/").rsplit("/", 1)[-1]


def _problems(chk: Checklist) -> list[str]:
    name = _label(chk)
    if chk.status == "empty":
        return [
            _(
                "{name} is empty, so nothing was ever verified (`md5sum: {name}: no properly formatted MD5 checksum "
                "lines found`): the download failed, likely an expired link"
            ).format(name=name)
        ]
    if chk.status == "html":
        return [_("{name} is a web page, not a checklist: the download failed (expired link?)").format(name=name)]
    if chk.status == "unreadable":
        return [_("{name} cannot be read").format(name=name)]
    out = []
    if chk.bad_lines:
        out.append(
            _("{name} has lines that are not `<md5>  <file>`: {line}").format(name=name, line=repr(chk.bad_lines[0]))
        )
    outside = [e.name for e in chk.entries if e.status == "outside"]
    if outside:
        out.append(
            _("{name} names files outside the model folder, not checked: {files}").format(
                name=name, files=files_list(outside)
            )
        )
    failed = [e.name for e in chk.entries if e.status == "mismatch"]
    if failed:
        out.append(
            _(
                "{files} FAILED the md5 check (`md5sum: WARNING: {failed} of {total} computed checksums did NOT match`)"
            ).format(files=files_list(failed), failed=len(failed), total=len(chk.entries))
        )
    missing = [e.name for e in chk.entries if e.status in ("missing", "unreadable")]
    if missing:
        out.append(_("{files} listed in {name} cannot be found or read").format(files=files_list(missing), name=name))
    return out


def _unproblematic(model: ModelDir, chk: Checklist, facts: Facts) -> Outcome:
    """What a checklist without problems proves: its files were hashed, or why they were not."""
    name = _label(chk)
    if all(e.status == "ok" for e in chk.entries):
        files = len(chk.entries)
        return Passed(
            ngettext(
                "{count} file of {model} against {checklist}", "{count} files of {model} against {checklist}", files
            ).format(count=files, model=model.name, checklist=name)
        )
    if facts.options.no_hash:
        return NotVerified("--no-hash")
    return NotVerified(_("{model} was found, not given: --model-dir {model} hashes it").format(model=model.name))


def _unchecked(model: ModelDir) -> Outcome:
    if model.format in ("meta", "meta-in-hf"):
        return NotVerified(_("no checklist.chk in {path}").format(path=model.path))
    return NotApplicable(
        _("{path} is not in Meta's format, which alone comes with a checklist").format(path=model.path)
    )


def failed_files(facts: Facts) -> list[str]:
    """Paths of files whose md5 failed or that are missing, for the re-download fix."""
    out = []
    for model in facts.models:
        for chk in model.checklists:
            root = chk.path.replace("\\", "/").rsplit("/", 1)[0]
            out += [f"{root}/{e.name}" for e in chk.entries if e.status in ("mismatch", "missing", "unreadable")]
    return out


@check(
    id="checksum-mismatch",
    summary="Downloaded files do not match Meta's checklist",
    severity=Severity.ERROR,
    group=Group.MODEL,
    fixes=("redownload-failed-shards",),
    slow=True,
    requires=(MODEL,),
    examples=(
        Healthy(linux_gpu(models=(meta_model(checklists=(Checklist(CHK, "ok", (OK,)),)),))),
        Inapplicable(
            linux_gpu(
                models=(
                    meta_model(
                        checklists=(Checklist(CHK, "ok", (dataclasses.replace(OK, status="skipped", actual=None),)),)
                    ),
                ),
                options=Options(no_hash=True),
            ),
            expect="not verified: --no-hash",
        ),
        Inapplicable(linux_gpu(models=(meta_model(checklists=()),)), expect="not verified: no checklist.chk"),
        Broken(linux_gpu(models=(meta_model(checklists=(Checklist(CHK, "ok", (BAD,)),)),)), expect="FAILED"),
        Broken(mac_arm(models=(meta_model(checklists=(Checklist(CHK, "empty"),)),)), expect="nothing was ever"),
        Broken(
            linux_gpu(models=(meta_model(checklists=(Checklist(CHK, "ok", (BAD,), known="Llama 2 7B"),)),)),
            expect="checked against Meta's published md5s of Llama 2 7B",
        ),
    ),
)
def checksum_mismatch(facts: Facts) -> Iterator[Outcome]:
    """What it checks: every file listed in checklist.chk (and tokenizer_checklist.chk) against its md5,
    hashed by llamadoctor itself in parallel (results remembered by path, size and mtime, so a second run is
    instant; --no-hash skips it). An empty, HTML or malformed checklist, and names that leave the model
    folder, are findings too. A folder without checklist.chk whose params.json is that of a release Meta
    published a checklist for is checked against the md5s of that checklist, shipped with llamadoctor.

    Why it matters: an interrupted or expired download leaves short or empty files that fail much later. On
    Apple Silicon Meta's download.sh runs `md5 checklist.chk`, which prints one hash and verifies nothing,
    so a bad shard there goes unnoticed until loading.

    How to fix: re-download only the files that failed, with a fresh link from llama.com
    (`llamadoctor fix checksum-mismatch` names them), then check again.
    """
    for model in facts.models:
        if not model.checklists:
            yield _unchecked(model)
        for chk in model.checklists:
            problems = _problems(chk)
            if problems and chk.known:
                problems.insert(0, _("checked against {checklist}").format(checklist=_label(chk)))
            if problems:
                yield checksum_mismatch.finding(
                    # TRANSLATORS: {problems} are the problems of one checklist, each a clause, joined by "; ".
                    _("{path}: {problems}.").format(path=model.path, problems=_("; ").join(problems)),
                    path=model.path,
                    checklist=chk.path,
                    failed=[e.name for e in chk.entries if e.status != "ok"],
                )
            else:
                yield _unproblematic(model, chk, facts)
