"""torch.distributed without NCCL, against Meta's code that asks for it."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.checks._requires import TORCH
from llamadoctor.facts import Facts
from llamadoctor.i18n import _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Severity, SkipCheck
from llamadoctor.registry import check
from llamadoctor.testing import (
    linux_cpu,
    linux_cpu_only_torch,
    linux_gpu,
    mac_arm,
    no_torch,
    replace_in,
    windows_conda,
)


def _where(facts: Facts) -> str:
    if facts.os == "windows":
        return _("NCCL does not exist for Windows")
    if facts.os == "darwin":
        return _("NCCL does not exist for macOS")
    if facts.torch.cuda is None:
        return _("this is a CPU-only build of torch")
    return _("this torch build was compiled without it")


@check(
    id="nccl-unavailable",
    summary="torch.distributed cannot use NCCL on this machine",
    severity=Severity.WARNING,
    group=Group.DISTRIBUTED,
    requires=(TORCH,),
    checked=lambda facts: _("torch {version} has NCCL").format(version=facts.torch.version),
    examples=[
        Healthy(linux_gpu()),
        Inapplicable(linux_gpu(torch=no_torch()), expect="torch is not installed"),
        Broken(windows_conda(), expect="NCCL does not exist for Windows"),
        Broken(mac_arm(), expect="gloo works"),
        Broken(linux_cpu(), expect="CPU-only build"),
        Broken(linux_cpu_only_torch(), expect='init_process_group("nccl")'),
        Broken(replace_in(linux_gpu(), "torch", nccl=False), expect="compiled without it"),
    ],
)
def nccl_unavailable(facts: Facts) -> Iterator[Finding]:
    """torch.distributed has no NCCL backend here, and Meta's reference code asks for it.

    What it checks: whether torch's distributed package was built with NCCL. It never is on Windows and macOS,
    nor in CPU-only builds; the gloo backend is always there.
    Why it matters: Meta's llama and llama3 repos call `torch.distributed.init_process_group("nccl")`, which
    stops with `RuntimeError: Distributed package doesn't have NCCL built in` (then torchrun's
    `ChildFailedError`). Code that picks the backend, like llamadoctor's runner, uses gloo and works.
    How to fix: run with llamadoctor's runner, or patch the reference code to use "gloo" where NCCL is missing
    (`llamadoctor fix --unsafe` offers that patch when it finds Meta's code); on Linux with an NVIDIA GPU,
    install a CUDA build of torch.
    """
    torch = facts.torch
    if torch.nccl is None:
        raise SkipCheck(_("whether torch {version} has NCCL is unknown").format(version=torch.version))
    if torch.nccl:
        return
    if torch.gloo is not False:
        # TRANSLATORS: {where} says why NCCL is missing ("NCCL does not exist for Windows").
        text = _(
            "torch {version} has no NCCL ({where}); gloo works, but Meta's reference code calls "
            'init_process_group("nccl") and stops with “Distributed package doesn\'t have NCCL built in”.'
        )
    else:
        text = _(
            "torch {version} has no NCCL ({where}); gloo is missing too, but Meta's reference code calls "
            'init_process_group("nccl") and stops with “Distributed package doesn\'t have NCCL built in”.'
        )
    yield nccl_unavailable.finding(
        text.format(version=torch.version, where=_where(facts)),
        remedy=_(
            'use the gloo backend: run `llamadoctor run`, or change the reference code\'s init_process_group("nccl") to'
        )
        + "\n"
        'init_process_group("nccl" if torch.cuda.is_available() and dist.is_nccl_available() '
        'else "gloo")',
        torch=torch.version,
        gloo=torch.gloo,
    )
