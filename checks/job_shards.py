"""The shard each rank loads: there on its node, and the same file as on rank 0's."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Optional

from llamadoctor.checks._job import where
from llamadoctor.files import ModelDir, Shard, targets
from llamadoctor.i18n import _
from llamadoctor.job import JobBroken, JobFacts, JobHealthy, RankFacts, job_check
from llamadoctor.llama.layout import shards_of_rank
from llamadoctor.model import NotApplicable, Outcome, Passed, Severity
from llamadoctor.testing_files import LLAMA2_13B, hf_model, meta_model
from llamadoctor.testing_job import gpu_job, on_node, runtime_on_node

MODEL = meta_model(LLAMA2_13B, path="/models/llama-2-13b", n_shards=2)
SHORT = dataclasses.replace(MODEL, shards=(MODEL.shards[0], dataclasses.replace(MODEL.shards[1], size=1000)))
ONE_SHARD = dataclasses.replace(MODEL, shards=MODEL.shards[:1])
HF = hf_model("/models/Llama-2-7b-chat-hf")


def _job(model: ModelDir, other: Optional[ModelDir] = None) -> JobFacts:
    job = on_node(gpu_job(nodes=2, per_node=1), 0, models=(model,))
    return on_node(job, 1, models=(other or model,))


def _hashed(job: JobFacts, node: int, digest: str) -> JobFacts:
    return runtime_on_node(job, node, shard_md5={f"{s.name}": digest for s in MODEL.shards})


def _model(rank: RankFacts) -> Optional[ModelDir]:
    """The folder this rank runs: the first given with --model-dir (the same path on every node, or the same
    relative path from each node's working folder)."""
    assert rank.facts is not None
    runs = targets(rank.facts.models)
    return runs[0] if runs and not runs[0].error else None


def _loads(model: ModelDir, rank: int, world: int) -> tuple[str, ...]:
    """The weight files `rank` reads: its consolidated.NN.pth, or every file of an HF folder."""
    metas = sorted(s.name for s in model.meta_shards)
    if not metas:
        return tuple(sorted(s.name for s in model.shards))
    return tuple(f"consolidated.{i:02d}.pth" for i in shards_of_rank(len(metas), world, rank))


def _problems(rank: RankFacts, ref: ModelDir, ref_hashes: dict[str, str], world: int) -> Iterator[str]:
    model = _model(rank)
    if model is None or not model.shards:
        yield _("the model folder {name} is missing or has no weights").format(name=ref.name)
        return
    have = {s.name: s for s in model.shards}
    reference: dict[str, Shard] = {s.name: s for s in ref.shards}
    for name in _loads(ref, rank.identity.rank, world):
        shard = have.get(name)
        if shard is None:
            yield _("{name} is missing from {path}").format(name=name, path=model.path)
        elif name in reference and shard.size != reference[name].size:
            yield _("{name} is {size} bytes, not {expected} as on rank 0").format(
                name=name, size=f"{shard.size:,}", expected=f"{reference[name].size:,}"
            )
        elif name in ref_hashes and rank.runtime.shard_md5.get(name, ref_hashes[name]) != ref_hashes[name]:
            yield _("{name} has md5 {md5}, not {expected} as on rank 0").format(
                name=name, md5=rank.runtime.shard_md5[name], expected=ref_hashes[name]
            )


@job_check(
    id="job-shard-missing",
    summary="The shard a rank loads is missing on its node, or differs from rank 0's",
    severity=Severity.ERROR,
    examples=[
        JobHealthy(_job(MODEL)),
        JobHealthy(_hashed(_hashed(_job(MODEL), 0, "a" * 32), 1, "a" * 32)),
        JobHealthy(_job(HF)),
        JobBroken(_job(MODEL, ONE_SHARD), expect="consolidated.01.pth is missing from /models/llama-2-13b"),
        JobBroken(_job(MODEL, SHORT), expect="consolidated.01.pth is 1,000 bytes"),
        JobBroken(_hashed(_hashed(_job(MODEL), 0, "a" * 32), 1, "b" * 32), expect="has md5 bbbb"),
        JobBroken(on_node(_job(MODEL), 1, models=()), expect="the model folder llama-2-13b is missing"),
    ],
)
def job_shard_missing(job: JobFacts) -> Iterator[Outcome]:
    """Each rank's own shard, on the node where that rank reads it.

    What it checks: for the model folder given with --model-dir (the same path on every node), that the
    file each rank loads (its consolidated.NN.pth, or every weights file of a Hugging Face folder) exists on
    that rank's node with the size it has on rank 0's node; with --hash, that its md5 is rank 0's too.
    Why it matters: a copy to one node that stopped early, or a node that holds another model under the
    same path, passes that node's own look at its folder and fails only when its rank loads its shard
    ("PytorchStreamReader failed reading zip archive") or, worse, runs with different weights.
    How to fix: copy the folder named to that node again (rsync -a --checksum from rank 0's node) and run
    the job again, with --hash to compare contents.
    """
    first = job.healthy_ranks[0] if job.healthy_ranks else None
    runs = targets(first.facts.models) if first and first.facts else ()
    if not runs or not runs[0].shards:
        yield NotApplicable(_("no model folder given with --model-dir on rank 0"))
        return
    ref = runs[0]
    found: dict[str, list[RankFacts]] = {}
    for r in job.healthy_ranks:
        for problem in _problems(r, ref, dict(first.runtime.shard_md5) if first else {}, job.world):
            found.setdefault(problem, []).append(r)
    for problem, ranks in found.items():
        yield job_shard_missing.finding(
            # TRANSLATORS: {where} names nodes and ranks; {problem} says what is wrong with a shard there.
            _("On {where}: {problem}.").format(where=where(ranks), problem=problem),
            remedy=_("Copy {path} to that node again (rsync -a --checksum from rank 0's node).").format(path=ref.path),
            ranks=[r.identity.rank for r in ranks],
        )
    if first and first.runtime.shard_md5:
        passed = _("the shard each of {count} ranks loads from {path}: present, size and md5")
    else:
        passed = _("the shard each of {count} ranks loads from {path}: present, size")
    yield Passed(passed.format(count=len(job.healthy_ranks), path=ref.path))
