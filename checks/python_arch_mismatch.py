"""An Intel Python on an Apple Silicon Mac."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.checks._requires import PLATFORM
from llamadoctor.facts import Facts
from llamadoctor.i18n import _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Severity
from llamadoctor.registry import check
from llamadoctor.testing import linux_cpu, mac_arm, mac_arm_x86_python, replace_in

MINIFORGE = "https://github.com/conda-forge/miniforge/releases/latest/download/Miniforge3-MacOSX-arm64.sh"
INTEL_MAC = replace_in(
    replace_in(mac_arm(), "platform", hardware_arm64=False, machine="x86_64"), "python", machine="x86_64"
)


@check(
    id="python-arch-mismatch",
    summary="An x86_64 Python runs under Rosetta on an Apple Silicon Mac",
    severity=Severity.ERROR,
    group=Group.SYSTEM,
    platforms=("darwin",),
    requires=(PLATFORM,),
    checked=lambda facts: (
        _("a {machine} Python on an Apple Silicon CPU")
        if facts.platform.hardware_arm64
        else _("a {machine} Python on an Intel CPU")
    ).format(machine=facts.python.machine),
    examples=[
        Healthy(mac_arm()),
        Healthy(INTEL_MAC),
        Inapplicable(linux_cpu(), expect="only on macOS"),
        Broken(mac_arm_x86_python(), expect="is x86_64"),
        Broken(
            replace_in(mac_arm_x86_python(), "python", executable="/usr/local/bin/python3"),
            expect="/usr/local/bin/python3",
        ),
    ],
)
def python_arch_mismatch(facts: Facts) -> Iterator[Finding]:
    """The target Python is an Intel (x86_64) build running under Rosetta on Apple Silicon.

    What it checks: on macOS, whether the CPU is Apple Silicon (`sysctl hw.optional.arm64`) while the target
    interpreter reports `x86_64`: an Intel Homebrew under /usr/local, an old Anaconda, a terminal opened
    with "Open using Rosetta".
    Why it matters: native wheels of the other architecture fail to load with `(mach-o file, but is an
    incompatible architecture (have 'x86_64', need 'arm64'))`; PyTorch stopped publishing x86_64 macOS wheels
    after 2.2, and an Intel torch can never use the GPU (MPS).
    How to fix: install an arm64 Python (Miniforge for arm64, or Homebrew under /opt/homebrew), recreate the
    environment with it, and reinstall the packages.
    """
    if facts.os != "darwin" or not facts.platform.hardware_arm64 or facts.python.machine != "x86_64":
        return
    yield python_arch_mismatch.finding(
        _(
            "This Mac has an Apple Silicon (arm64) CPU, but the Python at {python} is {machine} and runs under "
            "Rosetta: arm64 wheels fail with “incompatible architecture (have 'x86_64', need 'arm64')”, torch has "
            "no x86_64 macOS wheels after 2.2 and cannot use MPS."
        ).format(python=facts.python.executable, machine=facts.python.machine),
        remedy=(
            _("install an arm64 Python, then recreate the environment with it and reinstall torch:")
            + f"\ncurl -LO {MINIFORGE} && bash Miniforge3-MacOSX-arm64.sh\n"
            + _("(or with Homebrew for arm64: /opt/homebrew/bin/brew install python@3.11)")
        ),
        python=facts.python.executable,
        machine=facts.python.machine,
    )
