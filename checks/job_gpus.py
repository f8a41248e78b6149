"""Ranks and GPUs: each rank on a GPU of its own, and enough free memory there for its part of the model."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.checks._job import gpu_of, label, where
from llamadoctor.estimate import gib
from llamadoctor.files import targets
from llamadoctor.i18n import _, ngettext
from llamadoctor.job import JobBroken, JobFacts, JobHealthy, RankFacts, job_check
from llamadoctor.llama import estimate
from llamadoctor.model import NotApplicable, Outcome, Passed, Severity
from llamadoctor.model_info import arch_of
from llamadoctor.testing import nvidia
from llamadoctor.testing_files import LLAMA2_7B, LLAMA2_70B, meta_model
from llamadoctor.testing_job import gpu_job, node_gpus, on_node

SHARED_ENV = {"CUDA_VISIBLE_DEVICES": "0"}


@job_check(
    id="job-gpu-shared",
    summary="Two ranks drive the same GPU, or a rank's LOCAL_RANK has no GPU",
    severity=Severity.ERROR,
    examples=[
        JobHealthy(gpu_job()),
        JobHealthy(gpu_job(env={"CUDA_VISIBLE_DEVICES": "1,0"})),
        JobBroken(gpu_job(env=SHARED_ENV), expect="LOCAL_RANK=1 but CUDA_VISIBLE_DEVICES=0 shows 1 GPU"),
        JobBroken(
            on_node(gpu_job(), 1, gpu=nvidia(*node_gpus(1, 1))), expect="LOCAL_RANK=1 but the machine shows 1 GPU"
        ),
        JobBroken(gpu_job(env={"CUDA_VISIBLE_DEVICES": "0,0"}), expect="Duplicate GPU detected"),
    ],
)
def job_gpu_shared(job: JobFacts) -> Iterator[Outcome]:
    """Which GPU each rank's `cuda:LOCAL_RANK` is, across the job.

    What it checks: from each rank's CUDA_VISIBLE_DEVICES, LOCAL_RANK and the GPUs its node has (by UUID),
    that every rank has a GPU and no two ranks share one.
    Why it matters: two ranks on one GPU fail NCCL's setup with "Duplicate GPU detected : rank 1 and rank 0
    both on CUDA device"; a LOCAL_RANK beyond the visible GPUs fails with "invalid device ordinal". Both are
    a launch mistake on one node (a CUDA_VISIBLE_DEVICES left over, a --nproc_per_node above the GPU count).
    How to fix: give each node `--nproc_per_node` equal to its GPU count, and unset CUDA_VISIBLE_DEVICES or
    list one distinct GPU per local rank in it.
    """
    if not any(r.facts and r.facts.gpu.gpus for r in job.healthy_ranks):
        yield NotApplicable(_("no rank has an NVIDIA GPU"))
        return
    users: dict[str, list[RankFacts]] = {}
    for r in job.healthy_ranks:
        gpu, why = gpu_of(r)
        if gpu is None:
            yield job_gpu_shared.finding(
                _("{rank} has no GPU of its own: {why}.").format(rank=label(r), why=why), rank=r.identity.rank
            )
            continue
        users.setdefault(gpu.uuid or f"{r.identity.node}:{gpu.index}", []).append(r)
    for uuid, ranks in users.items():
        if len(ranks) > 1:
            yield job_gpu_shared.finding(
                _("{where} all use GPU {uuid}: NCCL stops with “Duplicate GPU detected”.").format(
                    where=where(ranks), uuid=uuid
                ),
                remedy=_("List one distinct GPU per local rank in CUDA_VISIBLE_DEVICES, or unset it."),
                ranks=[r.identity.rank for r in ranks],
            )
    placed = sum(len(v) for v in users.values())
    yield Passed(_("{ranks} ranks on {count} distinct GPUs").format(ranks=placed, count=len(users)))


def _big_model_job(free_gib: float) -> JobFacts:
    job = gpu_job(nodes=1, per_node=8)
    model = meta_model(LLAMA2_70B, path="/models/llama-2-70b", n_shards=8)
    return on_node(job, 0, models=(model,), gpu=nvidia(*node_gpus(0, 8, free_gib=free_gib)))


@job_check(
    id="job-vram-short",
    summary="A rank's GPU has less free memory than its shard and KV cache need",
    severity=Severity.ERROR,
    examples=[
        JobHealthy(_big_model_job(free_gib=78)),
        JobHealthy(on_node(gpu_job(), 0, models=(meta_model(LLAMA2_7B),))),
        JobBroken(_big_model_job(free_gib=14), expect="RTX 3090 has 14.00 GiB free"),
    ],
)
def job_vram_short(job: JobFacts) -> Iterator[Outcome]:
    """Free VRAM on each rank against its part of the model.

    What it checks: for the model folder given with --model-dir, what one rank of a job of this size needs
    (weights and KV cache divided by the ranks, plus activations and the CUDA context, for the --dtype,
    --max-seq-len and --max-batch-size given) against the free memory of the GPU that rank drives now.
    Why it matters: a GPU another process already fills, or a node with smaller cards, fails with
    "CUDA out of memory" on that one rank after every other rank has loaded its shard.
    How to fix: free the GPU (see `nvidia-smi` for the processes holding it), run on nodes with larger GPUs,
    or lower --max-seq-len and --max-batch-size.
    """
    looked = 0
    short: dict[tuple[int, str, int], list[RankFacts]] = {}
    for r in job.healthy_ranks:
        assert r.facts is not None
        gpu, _why = gpu_of(r)
        runs = targets(r.facts.models)
        arch = arch_of(runs[0]) if runs else None
        if gpu is None or arch is None:
            continue
        opts = r.facts.options
        try:
            need = estimate(
                arch, dtype=opts.dtype, device="cuda", max_seq_len=opts.max_seq_len,
                max_batch_size=opts.max_batch_size, nproc=job.world, capability=gpu.compute_capability,
            ).per_device_bytes  # fmt: skip
        except ValueError:
            continue
        looked += 1
        if need > gpu.memory_free:
            short.setdefault((need, gpu.name, gpu.memory_free), []).append(r)
    if not looked:
        yield NotApplicable(_("no rank has both a GPU and a model folder to size"))
        return
    for (need, name, free), ranks in short.items():
        yield job_vram_short.finding(
            _(
                "On {where}: each rank needs about {need} for its part of the model, and its {gpu} has {free} free."
            ).format(where=where(ranks), need=gib(need), gpu=name, free=gib(free)),
            remedy=_("Free the GPU (nvidia-smi lists what holds it), or lower --max-seq-len and --max-batch-size."),
            ranks=[r.identity.rank for r in ranks],
            needed=need,
            free=free,
        )
    yield Passed(
        ngettext(
            "free VRAM on {count} rank against their part of the model",
            "free VRAM on {count} ranks against their part of the model",
            looked,
        ).format(count=looked)
    )
