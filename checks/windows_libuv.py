"""torch >= 2.4 on Windows, whose TCPStore asks for libuv that Windows wheels lack."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.checks._requires import TORCH
from llamadoctor.facts import Facts
from llamadoctor.i18n import _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Severity, SkipCheck
from llamadoctor.registry import check
from llamadoctor.shell import set_env
from llamadoctor.testing import linux_gpu, replace_in, torch_info, windows_conda
from llamadoctor.torch_builds import version_tuple

WIN_TORCH_25 = torch_info("2.5.1", cuda="12.1", nccl=False, libuv=False)


def _libuv_checked(facts: Facts) -> str:
    torch = facts.torch
    if torch.libuv is not False:
        return _("torch {version} has libuv").format(version=torch.version)
    if version_tuple(torch.version or "")[:2] < (2, 4):
        return _("torch {version} does not ask for libuv (2.4 and newer do)").format(version=torch.version)
    return _("USE_LIBUV=0 is set")


@check(
    id="windows-libuv",
    summary="torch >= 2.4 on Windows without libuv: torchrun's rendezvous fails",
    severity=Severity.ERROR,
    group=Group.DISTRIBUTED,
    fixes=("set-distributed-env",),
    platforms=("windows",),
    requires=(TORCH,),
    checked=lambda facts: _libuv_checked(facts),
    examples=[
        Healthy(windows_conda()),  # torch 2.3: libuv was not the default yet
        Healthy(windows_conda(torch=WIN_TORCH_25, env={"USE_LIBUV": "0"})),
        Inapplicable(linux_gpu(torch=torch_info("2.5.1", cuda="12.1", libuv=False)), expect="only on Windows"),
        Broken(windows_conda(torch=WIN_TORCH_25), expect="torch 2.5.1+cu121"),
        Broken(
            replace_in(windows_conda(torch=WIN_TORCH_25), "platform", shell="cmd"),  # noqa: S604
            expect="use_libuv was requested",
        ),
        Broken(windows_conda(torch=WIN_TORCH_25, env={"USE_LIBUV": "1"}), expect="USE_LIBUV=1"),
    ],
)
def windows_libuv(facts: Facts) -> Iterator[Finding]:
    """torch 2.4+ on Windows asks its TCPStore for libuv, which the Windows wheels are built without.

    What it checks: Windows, torch 2.4 or newer, no libuv in the build, and `USE_LIBUV` not set to 0.
    Why it matters: torch 2.4 made libuv the default TCPStore backend, so torchrun's rendezvous stops with
    `RuntimeError: use_libuv was requested but PyTorch was build without libuv support` (sic) before any model
    code runs.
    How to fix: set `USE_LIBUV=0` in the shell that launches torchrun (PowerShell: `$env:USE_LIBUV = "0"`,
    cmd: `set USE_LIBUV=0`; `llamadoctor fix` prints it for your shell); code that builds its own
    init_method can add `?use_libuv=0` to it.
    """
    torch = facts.torch
    if not torch.version:
        raise SkipCheck(_("torch's version is unknown"))
    if version_tuple(torch.version)[:2] < (2, 4) or torch.libuv is not False:
        return
    setting = facts.env.get("USE_LIBUV")
    if setting == "0":
        return
    if setting is None:
        text = _(
            "torch {version} on Windows has no libuv but uses it for torchrun's store by default: the launch "
            "fails with “use_libuv was requested but PyTorch was build without libuv support”."
        )
    else:
        text = _(
            "torch {version} on Windows has no libuv but uses it for torchrun's store by default (USE_LIBUV={setting} "
            "is set): the launch fails with “use_libuv was requested but PyTorch was build without libuv support”."
        )
    yield windows_libuv.finding(
        text.format(version=torch.version, setting=setting),
        remedy=_("{command} in this shell before running torchrun").format(
            command=set_env("USE_LIBUV", "0", facts.platform.shell)
        ),
        torch=torch.version,
        use_libuv=setting,
        unset=[],
        set={"USE_LIBUV": "0"},
    )
