"""The software every rank runs: one torch, one CUDA, one NCCL, one Python across the job."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Callable, Optional

from llamadoctor.checks._job import spread, spread_text
from llamadoctor.i18n import N_, _
from llamadoctor.job import JobBroken, JobFacts, JobHealthy, RankFacts, job_check
from llamadoctor.model import Outcome, Passed, Severity
from llamadoctor.testing import nvidia, torch_info
from llamadoctor.testing_job import gpu_job, node_gpus, on_node, runtime_on_node

Value = Callable[[RankFacts], Optional[str]]


def _facts_value(read: Callable[..., Optional[str]]) -> Value:
    return lambda r: read(r.facts) if r.facts is not None else None


# What must match for the collectives to agree (errors), then what should (warnings).
MUST_MATCH: dict[str, Value] = {
    "Python": _facts_value(lambda f: f.python.version),
    "torch": lambda r: r.runtime.packages.get("torch") or (r.facts.torch.version if r.facts else None),
    N_("CUDA (torch's build)"): _facts_value(lambda f: f.torch.cuda or _("none")),
    "NCCL": lambda r: r.runtime.nccl or _("none"),
}


# The names above that are words, not the names of software.
WORDS = frozenset({"CUDA (torch's build)", "NVIDIA driver"})


def _shown(name: str) -> str:
    return _(name) if name in WORDS else name


def _package(name: str) -> Value:
    return lambda r: r.runtime.packages.get(name, _("not installed"))


def _should_match(job: JobFacts) -> dict[str, Value]:
    values: dict[str, Value] = {}
    if any(r.facts and r.facts.gpu.gpus for r in job.healthy_ranks):
        values[N_("NVIDIA driver")] = _facts_value(lambda f: f.gpu.driver_version)
    names = sorted({n for r in job.healthy_ranks for n in r.runtime.packages if n != "torch"})
    values.update({name: _package(name) for name in names})
    return values


@job_check(
    id="job-versions-differ",
    summary="Ranks run different torch, CUDA, NCCL, Python, driver or library versions",
    severity=Severity.ERROR,
    examples=[
        JobHealthy(gpu_job()),
        JobBroken(
            on_node(gpu_job(), 1, torch=torch_info("2.1.0", cuda="11.8")),
            expect="CUDA (torch's build) differs between ranks: 12.1 on node 0",
        ),
        JobBroken(runtime_on_node(gpu_job(), 1, nccl="2.14.3"), expect="NCCL differs between ranks"),
        JobBroken(
            runtime_on_node(gpu_job(), 1, packages={"torch": "2.3.1+cu121", "transformers": "4.40.0"}),
            expect="transformers differs between ranks: 4.44.2 on node 0 (ada-0, ranks 0-1); 4.40.0 on node 1",
        ),
        JobBroken(
            on_node(gpu_job(), 1, gpu=nvidia(*node_gpus(1, 2), driver="470.57.02", driver_cuda="11.4")),
            expect="NVIDIA driver differs between ranks",
        ),
    ],
)
def job_versions_differ(job: JobFacts) -> Iterator[Outcome]:
    """Versions that differ between the ranks of one job.

    What it checks: the Python, torch, torch's CUDA build and NCCL of every rank (errors when they differ),
    then the NVIDIA driver and the other libraries each rank's interpreter has installed (transformers,
    accelerate, ...: warnings), naming the nodes and ranks that hold each version.
    Why it matters: each node's own `llamadoctor check` passes, yet torch.distributed assumes one build
    everywhere: a different NCCL or torch hangs the first collective or fails with "NCCL version mismatch";
    a node with an older driver or transformers fails or behaves differently from the others.
    How to fix: install the same versions on every node (one image, one lock file, one conda env spec); for a
    driver, update the node named to the driver the others run.
    """
    checked = []
    for name, value in [*MUST_MATCH.items(), *_should_match(job).items()]:
        seen = spread(job, value)
        if len(seen) > 1:
            severity = Severity.ERROR if name in MUST_MATCH else Severity.WARNING
            yield job_versions_differ.finding(
                # TRANSLATORS: {name} is what differs (torch, NCCL, a package); {where} the values and their ranks.
                _("{name} differs between ranks: {where}.").format(name=_shown(name), where=spread_text(seen)),
                severity=severity,
                remedy=_("Install the same version on every node, then run the job again."),
                versions={v: [r.identity.rank for r in ranks] for v, ranks in seen.items()},
            )
        elif seen:
            checked.append(f"{_shown(name)} {next(iter(seen))}")
    if checked:
        yield Passed(_("the same on every rank: {versions}").format(versions=", ".join(checked)))
