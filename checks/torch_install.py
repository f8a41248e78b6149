"""Is there a torch in the target interpreter, and does it import?"""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.advice import install_advice
from llamadoctor.checks._requires import TORCH
from llamadoctor.facts import Facts
from llamadoctor.i18n import _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Outcome, Passed, Severity, SkipCheck
from llamadoctor.registry import check
from llamadoctor.testing import (
    linux_cpu,
    linux_gpu,
    mac_arm,
    no_torch,
    replace_in,
    torch_info,
    windows_conda,
)


@check(
    id="torch-missing",
    summary="PyTorch is not installed in the target Python",
    severity=Severity.ERROR,
    group=Group.PYTHON,
    fixes=("reinstall-torch-cuda",),
    checked=lambda facts: _("torch {version} is installed for {python}").format(
        version=facts.torch.version, python=facts.python.executable
    ),
    examples=[
        Healthy(linux_gpu()),
        Healthy(mac_arm()),
        Broken(linux_gpu(torch=no_torch()), expect="is not installed for /home/ada/llama/.venv/bin/python"),
        Broken(linux_cpu(torch=no_torch()), expect="(Python 3.11.9)"),
        Broken(windows_conda(torch=no_torch()), expect="is not installed"),
        Broken(mac_arm(torch=no_torch()), expect="/Users/ada/llama/.venv/bin/python"),
    ],
)
def torch_missing(facts: Facts) -> Iterator[Finding]:
    """PyTorch is not importable by the Python being diagnosed.

    What it checks: whether the target interpreter (the one running llamadoctor, or `--python`) has torch
    installed.
    Why it matters: Llama's reference code and llamadoctor's runner are PyTorch programs; without it every run
    stops at `ModuleNotFoundError: No module named 'torch'`. Installing torch into a *different* Python than
    the one that runs the model is the most common way to get here.
    How to fix: install torch with that interpreter's own pip (`python -m pip`), from the PyTorch index
    matching the machine: the CUDA build the NVIDIA driver supports, the CPU build on Linux without a GPU, the
    default wheel on macOS (it includes MPS) and on Windows without a GPU.
    """
    if facts.torch.installed:
        return
    advice = install_advice(facts)
    yield torch_missing.finding(
        _("torch is not installed for {python} (Python {version}).").format(
            python=facts.python.executable, version=facts.python.version
        ),
        remedy=advice.remedy,
        python=facts.python.executable,
        flavour=advice.flavour,
    )


@check(
    id="torch-broken",
    summary="PyTorch is installed but fails to import",
    severity=Severity.ERROR,
    group=Group.PYTHON,
    fixes=("reinstall-torch-cuda",),
    requires=(TORCH,),
    examples=[
        Healthy(replace_in(linux_gpu(), "torch", source="import")),
        Healthy(replace_in(windows_conda(), "torch", source="import")),
        Inapplicable(linux_gpu(torch=no_torch()), expect="torch is not installed"),
        Broken(
            replace_in(linux_gpu(), "torch", broken="OSError: libcudnn.so.8: cannot open shared object file"),
            expect="libcudnn.so.8",
        ),
        Broken(
            windows_conda(
                torch=torch_info(
                    "2.3.1",
                    cuda="12.1",
                    nccl=False,
                    libuv=False,
                    source="import",
                    deep_error='OSError: [WinError 126] Error loading "c10.dll" or one of its dependencies.',
                )
            ),
            expect="WinError 126",
        ),
    ],
)
def torch_broken(facts: Facts) -> Iterator[Outcome]:
    """torch is installed but importing it fails (or crashes) in the target interpreter.

    What it checks: the error the torch probe recorded: a missing or unreadable file of the installation (fast
    mode), or the import error raised in a subprocess of the target interpreter (`--deep`).
    Why it matters: a half-installed torch (an interrupted pip, a CUDA library that did not download, a DLL
    that Windows cannot load such as `Error loading "c10.dll" or one of its dependencies`) fails before any
    model code runs, with a traceback that rarely names the cause.
    How to fix: reinstall torch with the target interpreter's pip, `--force-reinstall` from the index matching
    the machine; on Windows install the Microsoft Visual C++ Redistributable if a DLL fails to load.
    """
    torch = facts.torch
    error = torch.broken or torch.deep_error
    if not error:
        if torch.source != "import":
            raise SkipCheck(_("not imported without --deep (its installed files look complete)"))
        yield Passed(
            _("torch {version} imports in {python}").format(version=torch.version, python=facts.python.executable)
        )
        return
    if torch.broken:
        # TRANSLATORS: {error} is the error text, as the probe or Python printed it.
        text = _("torch {version} at {location} is installed but files of the installation are broken: {error}")
    else:
        text = _("torch {version} at {location} is installed but importing it fails: {error}")
    advice = install_advice(facts, reinstall=True)
    yield torch_broken.finding(
        text.format(version=torch.version, location=torch.location, error=error),
        remedy=advice.command,
        error=error,
        version=torch.version,
    )
