"""Remedies shared by checks and fixes: which torch to install here, which tools download.sh lacks and how to
install them, and how to say it in this shell."""

from __future__ import annotations

from dataclasses import dataclass

from llamadoctor.facts import Facts
from llamadoctor.i18n import _
from llamadoctor.shell import comment, render_argv
from llamadoctor.torch_builds import (
    flavour_covers,
    flavour_cuda,
    install_argv,
    min_driver,
    recommended_flavour,
    version_tuple,
    wheel_flavours_for_driver,
)

NEWEST_CUDA = "99.9"  # every flavour in the table is at or below this


@dataclass(frozen=True)
class TorchInstall:
    command: str  # in the user's shell, with the target interpreter
    flavour: str | None  # "cu121", "cpu", or None for PyPI's default wheel
    note: str = ""  # why this build, or what must happen first
    shell: str = "bash"
    driver_too_old: bool = False  # no build for these GPUs runs until the NVIDIA driver is updated

    @property
    def remedy(self) -> str:
        """The reasons as comment lines, then the commands each alone on its line: pasted together, all run."""
        notes = [comment(line, self.shell) for line in self.note.splitlines()]
        return "\n".join([*notes, self.command])


def capabilities(facts: Facts) -> list[tuple[int, int]]:
    return [g.compute_capability for g in facts.gpu.gpus if g.compute_capability]


def driver_label(facts: Facts) -> str:
    """'driver 535.104.05 (CUDA 12.2)', or what we know of it."""
    gpu = facts.gpu
    version = _("driver {version}").format(version=gpu.driver_version) if gpu.driver_version else _("the NVIDIA driver")
    # TRANSLATORS: {driver} is "driver 535.104.05" or "the NVIDIA driver".
    return _("{driver} (CUDA {cuda})").format(driver=version, cuda=gpu.driver_cuda) if gpu.driver_cuda else version


def _cuda_flavour(facts: Facts) -> tuple[str, str, bool]:
    """(the CUDA build to install, why, whether the driver must be updated first)."""
    gpu, caps = facts.gpu, capabilities(facts)
    flavour = recommended_flavour(gpu.driver_cuda, caps, driver_version=gpu.driver_version, os_name=facts.os)
    if flavour:
        why = _("{flavour} is the newest PyTorch CUDA build {driver} runs")
        return flavour, why.format(flavour=flavour, driver=driver_label(facts)), False
    covering = [f for f in wheel_flavours_for_driver(NEWEST_CUDA) if flavour_covers(f, caps)] or ["cu128"]
    if not gpu.driver_cuda:
        return covering[0], _("the NVIDIA driver's CUDA version is unknown: check it with nvidia-smi"), False
    # The smallest driver update that makes a build with kernels for these GPUs run.
    newest_first = [f for f in covering if version_tuple(flavour_cuda(f)) > version_tuple(gpu.driver_cuda)]
    target = newest_first[-1] if newest_first else covering[0]
    need = min_driver(flavour_cuda(target), facts.os)
    why = _(
        "no PyTorch CUDA build for these GPUs runs on {driver}: update the NVIDIA driver to {need} or newer first "
        "(https://www.nvidia.com/Download/index.aspx)"
    )
    return target, why.format(driver=driver_label(facts), need=need), True


def install_advice(facts: Facts, *, reinstall: bool = False) -> TorchInstall:
    """The pip command that installs the right torch build for this machine, for the target interpreter."""
    flavour: str | None = None
    note = ""
    driver_too_old = False
    if facts.gpu.gpus:
        flavour, note, driver_too_old = _cuda_flavour(facts)
    elif facts.os == "linux":
        flavour, note = "cpu", _("no NVIDIA GPU here: the CPU build avoids gigabytes of unused CUDA libraries")
    shell = facts.platform.shell
    if facts.python.externally_managed:
        steps = venv_steps(facts)
        steps.append(render_argv(install_argv(venv_python(facts), flavour), shell))
        note = "\n".join(filter(None, (note, externally_managed_note(facts))))
        return TorchInstall("\n".join(steps), flavour, note, shell, driver_too_old)
    argv = install_argv(facts.python.executable, flavour, reinstall=reinstall)
    return TorchInstall(render_argv(argv, shell), flavour, note, shell, driver_too_old)


VENV = "llama-venv"


def venv_python(facts: Facts) -> str:
    """The interpreter of the virtual environment `venv_steps` makes, relative to the folder they run in."""
    return f"{VENV}\\Scripts\\python.exe" if facts.os == "windows" else f"{VENV}/bin/python"


def venv_steps(facts: Facts) -> list[str]:
    """The command that makes a virtual environment from the target interpreter, in the user's shell."""
    return [render_argv([facts.python.executable, "-m", "venv", VENV], facts.platform.shell)]


def externally_managed_note(facts: Facts) -> str:
    """Why the advice makes a virtual environment: pip refuses `externally-managed-environment` Pythons."""
    return _(
        "{python} is managed by the system (PEP 668): its pip refuses to install packages, so install into a "
        "virtual environment and run Llama with {venv_python} (if venv says ensurepip is not available: sudo apt "
        "install python3-venv)"
    ).format(python=facts.python.executable, venv_python=venv_python(facts))


# ---- the programs Meta's download.sh runs --------------------------------------------------------------

NEEDED = ("bash", "wget", "md5sum")
PACKAGE = {"bash": "bash", "wget": "wget", "md5sum": "coreutils"}  # md5sum ships in coreutils everywhere
LINUX_MANAGERS = (
    ("apt-get", "sudo apt-get install -y"),
    ("dnf", "sudo dnf install -y"),
    ("pacman", "sudo pacman -S --needed"),
)


def missing(facts: Facts) -> tuple[str, ...]:
    """The needed tools download.sh would not find, in the shell that would run it."""
    bash = facts.tools.found.get("bash", "")
    # Git for Windows' bash puts its own usr\bin (md5sum included) on PATH inside the script.
    git_bash = facts.os == "windows" and "\\git\\" in bash.lower()
    return tuple(n for n in NEEDED if not facts.tools.has(n) and not (git_bash and n == "md5sum"))


def install_commands(facts: Facts, names: tuple[str, ...]) -> tuple[str, ...]:
    """How to get `names` on this platform; several lines are alternatives (one per package manager)."""
    packages = " ".join(sorted({PACKAGE[n] for n in names if n != "bash" or facts.os == "linux"}))
    if facts.os == "darwin":
        return (f"brew install {packages}",) if packages else ()
    if facts.os == "windows":
        if "bash" in names:
            return ("wsl --install", "wsl -- sudo apt-get install -y wget coreutils")
        return ("winget install --exact --id JernejSimoncic.Wget",)
    known = [cmd for tool, cmd in LINUX_MANAGERS if facts.tools.has(tool)]
    return tuple(f"{cmd} {packages}" for cmd in (known[:1] or [cmd for _tool, cmd in LINUX_MANAGERS]))
