"""Apple's GPU through MPS, and the operators torch has not written for it yet."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.checks._requires import TORCH
from llamadoctor.checks.memory_fit import device_of
from llamadoctor.facts import Facts
from llamadoctor.i18n import N_, _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Requires, Severity
from llamadoctor.registry import check
from llamadoctor.shell import set_env
from llamadoctor.testing import mac_arm, mac_arm_x86_python, replace_in

MPS_RUN = Requires(lambda f: device_of(f) == "mps", N_("the run would not use Apple's GPU (MPS)"))


def _message(facts: Facts, value: str | None) -> str:
    if value is None:
        text = _(
            "torch {version} will run on Apple's GPU (MPS) and PYTORCH_ENABLE_MPS_FALLBACK is not set: an operator "
            "MPS lacks stops the run with “The operator '…' is not currently implemented for the MPS device” "
            "instead of running on the CPU."
        )
    else:
        text = _(
            "torch {version} will run on Apple's GPU (MPS) and PYTORCH_ENABLE_MPS_FALLBACK={value}, not 1: an "
            "operator MPS lacks stops the run with “The operator '…' is not currently implemented for the MPS "
            "device” instead of running on the CPU."
        )
    return text.format(version=facts.torch.version, value=value)


@check(
    id="mps-fallback-unset",
    summary="Running on MPS without PYTORCH_ENABLE_MPS_FALLBACK: an operator MPS lacks stops the run",
    severity=Severity.INFO,
    group=Group.GPU,
    fixes=("set-distributed-env",),
    platforms=("darwin",),
    requires=(TORCH, MPS_RUN),
    checked=lambda facts: f"PYTORCH_ENABLE_MPS_FALLBACK={facts.env.get('PYTORCH_ENABLE_MPS_FALLBACK', '')}",
    examples=(
        Healthy(mac_arm(env={"PYTORCH_ENABLE_MPS_FALLBACK": "1"})),
        Inapplicable(replace_in(mac_arm(), "torch", mps=False), expect="would not use Apple's GPU"),
        Inapplicable(replace_in(mac_arm_x86_python(), "gpu", apple_silicon=False), expect="would not use"),
        Broken(mac_arm(), expect="is not currently implemented for the MPS device"),
        Broken(mac_arm(env={"PYTORCH_ENABLE_MPS_FALLBACK": "0"}), expect="PYTORCH_ENABLE_MPS_FALLBACK=0"),
    ),
)
def mps_fallback_unset(facts: Facts) -> Iterator[Finding]:
    """What it checks: a run on Apple Silicon's GPU (torch with MPS) with PYTORCH_ENABLE_MPS_FALLBACK not
    set to 1.

    Why it matters: torch's MPS backend still lacks some operators; the first one a model or sampler uses
    stops the run with `NotImplementedError: The operator 'aten::...' is not currently implemented for the
    MPS device`. With the variable set, those operators run on the CPU (slower, but the run completes). It
    must be set before Python starts: setting it inside the script once torch is loaded does nothing.

    How to fix: `export PYTORCH_ENABLE_MPS_FALLBACK=1` in the shell (or your shell's profile) before running;
    `llamadoctor fix` prints it for your shell.
    """
    value = facts.env.get("PYTORCH_ENABLE_MPS_FALLBACK")
    if value == "1":
        return
    yield mps_fallback_unset.finding(
        _message(facts, value),
        remedy=set_env("PYTORCH_ENABLE_MPS_FALLBACK", "1", facts.platform.shell)
        + "\n"
        + _("(before starting Python; add it to your shell's profile to keep it)"),
        value=value,
        unset=[],
        set={"PYTORCH_ENABLE_MPS_FALLBACK": "1"},
    )
