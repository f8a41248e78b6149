"""Reinstall torch as the build this machine runs: the CUDA wheel the NVIDIA driver supports, or CPU."""

from __future__ import annotations

from llamadoctor.advice import driver_label, install_advice
from llamadoctor.facts import Facts
from llamadoctor.i18n import _
from llamadoctor.model import Action, Applicability, Finding, Manual
from llamadoctor.registry import fix
from llamadoctor.torch_builds import flavour_cuda, runs_by_minor_compat, version_tuple


def _needed(facts: Facts) -> bool:
    torch, gpu = facts.torch, facts.gpu
    if not torch.installed or torch.broken or torch.deep_error:
        return True
    if gpu.gpus and torch.cuda is None and torch.hip is None:
        return True
    if torch.cuda and gpu.driver_cuda and version_tuple(gpu.driver_cuda) < version_tuple(torch.cuda):
        return not runs_by_minor_compat(torch.cuda, gpu.driver_version, facts.os)
    return False


@fix(
    id="reinstall-torch-cuda",
    summary="Install the torch build this machine runs: CUDA to match the driver, else CPU",
    applicability=Applicability.MANUAL,
)
def reinstall_torch_cuda(finding: Finding, facts: Facts) -> tuple[Action, ...]:
    """Print the pip command; never run it: it replaces gigabytes of packages in the user's environment."""
    if not _needed(facts):
        return ()
    advice = install_advice(facts, reinstall=facts.torch.installed)
    if advice.flavour and advice.flavour.startswith("cu"):
        text = _("Install torch built for CUDA {cuda} ({flavour}) into {python}; {driver} runs it.").format(
            cuda=flavour_cuda(advice.flavour),
            flavour=advice.flavour,
            python=facts.python.executable,
            driver=driver_label(facts),
        )
    else:
        text = _("Install torch into {python}.").format(python=facts.python.executable)
    if advice.driver_too_old:
        # TRANSLATORS: {text} is the sentence above; {note} says which driver to update to first.
        text = _("{text} But {note}.").format(text=text, note=advice.note)
    return (Manual(text, (advice.command,)),)
